"""The engineering commands the README shows (`python -m tests.…`): their arguments, and the
latency bench's commands, each of which must change what the head shows, or its write never
comes and the bench reports a miss that is its own (seed 538630456 began with the default,
21.0)."""

import random

import pytest

from tests import fault_matrix
from tests.bench_latency import setpoints


def test_every_command_changes_the_setpoint_the_head_shows():
    for seed in [538630456, *range(300)]:
        chosen = setpoints(random.Random(seed), 21.0, 20)
        assert len(chosen) == 20
        assert all(16.0 <= value <= 30.0 for value in chosen)
        assert all(value != before for before, value in zip([21.0, *chosen], chosen, strict=False))


def test_the_fault_matrix_has_help_and_names_a_wrong_transport(capsys):
    with pytest.raises(SystemExit) as info:
        fault_matrix.main(["--help"])
    assert info.value.code == 0
    assert "tcp|rtu" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        fault_matrix.main(["udp"])
    assert info.value.code == 2
    assert "'udp' is not tcp or rtu" in capsys.readouterr().err
