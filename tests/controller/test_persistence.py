"""Settings survive restarts; a corrupt or truncated file falls back to the last good copy."""

import logging

from controller.persistence import SavedState, StateStore, encode_state
from controller.settings import FanMode, UnitSettings, ZoneMode, ZoneSettings


def sample(temperature: float = 22.5) -> SavedState:
    zone = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=temperature, fan_mode=FanMode.LOW)
    return SavedState({"living": zone}, UnitSettings(quiet=True, demand_limit_pct=70))


def test_round_trip(tmp_path):
    store = StateStore(tmp_path / "state.json")
    assert store.save(sample())
    assert StateStore(tmp_path / "state.json").load() == sample()


def test_unchanged_state_is_not_rewritten(tmp_path):
    store = StateStore(tmp_path / "state.json")
    store.save(sample())
    assert not store.save(sample())


def test_missing_file_gives_defaults(tmp_path):
    assert StateStore(tmp_path / "none.json").load() == SavedState()


def test_truncated_file_uses_last_good_copy(tmp_path, caplog):
    path = tmp_path / "state.json"
    store = StateStore(path)
    store.save(sample(21.0))
    store.save(sample(23.0))
    path.write_bytes(encode_state(sample(23.0))[:40])  # a torn write
    with caplog.at_level(logging.ERROR):
        restored = StateStore(path).load()
    assert restored == sample(21.0)
    assert "unusable" in caplog.text


def test_garbage_everywhere_gives_defaults_without_crashing(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"\x00\xff not json")
    (tmp_path / "state.json.bak").write_text('{"version": 1, "zones": {"x": {"mode": "hot"}}}')
    assert StateStore(path).load() == SavedState()


def test_no_temp_file_left_behind(tmp_path):
    StateStore(tmp_path / "state.json").save(sample())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
