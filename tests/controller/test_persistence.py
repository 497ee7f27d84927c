"""Settings survive restarts; a corrupt or truncated file falls back to the last good copy."""

import asyncio
import json
import logging
import os
import stat
import threading
from dataclasses import replace

import pytest

from minisplit.controller.config import MAIN_SYSTEM, ZoneConfig
from minisplit.controller.core.optimal_start import PRIOR, RoomRates
from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.schedule_config import SwitchPoint
from minisplit.controller.service.persistence import (
    AlreadyRunning,
    SavedState,
    SettingsCommitter,
    StateStore,
    decode_state,
    encode_state,
    fit_to_zone,
    fit_to_zones,
    hold_state_lock,
)
from minisplit.drivers.bus import Backoff
from minisplit.drivers.vocabulary import FanSpeed
from tests.fixtures.profiles import head_with


def sample(temperature: float = 22.5) -> SavedState:
    zone = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=temperature, fan_mode=FanSpeed.LOW)
    return SavedState(
        {"living": zone}, {MAIN_SYSTEM: UnitSettings(quiet=True, demand_limit_pct=70)}
    )


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


def test_the_state_directory_it_makes_is_the_owners_alone(tmp_path):
    store = StateStore(tmp_path / "var" / "minisplit" / "state.json")
    store.save(sample())
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_a_state_file_that_is_a_fifo_or_device_is_never_replaced(tmp_path):
    """Each save renames a new file over the state file: run as root with `state_file =
    "/dev/null"`, that replaced the system's /dev/null with a regular file."""
    fifo = tmp_path / "state.json"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        StateStore(fifo).save(sample())
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_one_holder_of_the_state_lock_at_a_time(tmp_path):
    path = tmp_path / "state" / "state.json"
    held = hold_state_lock(path)
    assert held is not None
    with pytest.raises(AlreadyRunning, match=f"runs with the state file {path}"):
        hold_state_lock(path)
    os.close(held)  # as when the holder exits, however it exits
    again = hold_state_lock(path)
    assert again is not None
    os.close(again)


def test_the_last_save_is_not_undone_by_a_write_still_queued(tmp_path):
    store = StateStore(tmp_path / "state.json")
    store.save(sample(20.0))
    assert store.save_last(sample(22.0))
    assert not store.save(sample(21.0))  # a committer's older write, queued in a worker thread
    assert decode_state(store.path.read_bytes()) == sample(22.0)


def test_the_replaced_file_becomes_the_last_good_copy(tmp_path):
    path = tmp_path / "state.json"
    store = StateStore(path)
    store.save(sample(21.0))
    store.save(sample(22.0))
    store.save(sample(23.0))
    assert decode_state(path.read_bytes()) == sample(23.0)
    assert decode_state((tmp_path / "state.json.bak").read_bytes()) == sample(22.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.json.bak"]


def test_after_a_bad_load_the_good_copy_is_never_overwritten_by_the_bad_file(tmp_path, caplog):
    path = tmp_path / "state.json"
    store = StateStore(path)
    store.save(sample(21.0))
    store.save(sample(22.0))
    path.write_bytes(b'{"version": 1, "zon')  # truncated
    restarted = StateStore(path)
    with caplog.at_level(logging.ERROR):
        assert restarted.load() == sample(21.0)
    assert restarted.problems and "unusable" in restarted.problems[0]
    restarted.save(sample(24.0))
    assert decode_state(path.read_bytes()) == sample(24.0)
    assert decode_state((tmp_path / "state.json.bak").read_bytes()) == sample(21.0)


@pytest.mark.parametrize(
    "document",
    [
        b'{"version": 1, "zones": {"living": {"mode": "heat", "target_temperature": NaN}}}',
        b'{"version": 2, "zones": {}, "unit": {"quiet": false, "demand_limit_pct": 100}}',
        b"[]",
        b"",
    ],
)
def test_implausible_documents_are_refused(document):
    with pytest.raises(ValueError):
        decode_state(document)
    good = encode_state(sample()).replace(b"22.5", b"1e300")
    with pytest.raises(ValueError, match="implausible"):
        decode_state(good)


def test_restored_setpoints_move_into_the_zones_current_limits():
    zone = ZoneConfig(
        id="living", name="Living", bus="b", unit_id=11, min_temperature=18, max_temperature=24
    )
    saved = ZoneSettings(
        target_temperature=28.0, target_temperature_low=16.0, target_temperature_high=26.5
    )
    fitted = fit_to_zone(saved, zone)
    assert (
        fitted.target_temperature,
        fitted.target_temperature_low,
        fitted.target_temperature_high,
    ) == (24.0, 18.0, 24.0)
    inside = ZoneSettings(target_temperature=21.0)
    assert fit_to_zone(inside, zone) is not None and fit_to_zone(inside, zone) == inside


# -- what was learned or started: a boost's start, the defrost interval --

BOOSTING = ZoneSettings(mode=ZoneMode.HEAT, preset=Preset.BOOST)


def learned() -> SavedState:
    return SavedState(
        {"living": BOOSTING, "office": ZoneSettings()},
        {MAIN_SYSTEM: UnitSettings(), "downstairs": UnitSettings(quiet=True)},
        boost_started={"living": 1_700_000_000.5},
        defrost_intervals_s={MAIN_SYSTEM: 3300.0, "downstairs": 2900.0},
    )


def test_a_boosts_start_and_the_learned_defrost_interval_survive_a_restart(tmp_path):
    store = StateStore(tmp_path / "state.json")
    assert store.save(learned())
    assert StateStore(tmp_path / "state.json").load() == learned()


def test_a_file_written_before_they_were_kept_loads_without_them(tmp_path):
    path = tmp_path / "state.json"
    settings = {"living": BOOSTING.to_dict()}
    path.write_text(json.dumps({"version": 1, "zones": settings, "unit": UnitSettings().to_dict()}))
    store = StateStore(path)
    restored = store.load()
    assert restored == SavedState({"living": BOOSTING}, {MAIN_SYSTEM: UnitSettings()})
    assert restored.boost_started == {} and restored.defrost_intervals_s == {}
    assert restored.schedule_applied == {}
    assert store.problems == []


def test_a_file_of_one_unit_written_before_several_systems_loads_into_the_one_system(tmp_path):
    path = tmp_path / "state.json"
    doc = {
        "version": 1,
        "zones": {"living": BOOSTING.to_dict()},
        "unit": UnitSettings(quiet=True, demand_limit_pct=60).to_dict(),
        "defrost_interval_s": 3100.0,
    }
    path.write_text(json.dumps(doc))
    restored = StateStore(path).load()
    assert restored.units == {MAIN_SYSTEM: UnitSettings(quiet=True, demand_limit_pct=60)}
    assert restored.unit_of(MAIN_SYSTEM).quiet and not restored.unit_of("downstairs").quiet
    assert restored.defrost_intervals_s == {MAIN_SYSTEM: 3100.0}


def with_entry(tmp_path, key: str, value: str):
    """A state file like `learned()` but with ``key`` replaced; ``value`` as JSON text."""
    path = tmp_path / "state.json"
    doc = json.loads(encode_state(learned()))
    doc[key] = "@"
    path.write_text(json.dumps(doc).replace('"@"', value))
    return path


@pytest.mark.parametrize(
    "interval", ["0", "-60", '"3300"', "true", "[3300]", "1e12", "1" + "0" * 400]
)
def test_a_malformed_defrost_interval_is_reported_and_ignored(tmp_path, caplog, interval):
    store = StateStore(
        with_entry(tmp_path, "defrost_intervals_s", f'{{"main": {interval}, "downstairs": 2900}}')
    )
    with caplog.at_level(logging.ERROR):
        restored = store.load()
    assert restored == SavedState(
        learned().zones, learned().units, learned().boost_started, {"downstairs": 2900.0}
    )
    assert len(store.problems) == 1 and "learned defrost interval" in store.problems[0]
    assert store.problems[0] in caplog.text
    assert str(store.path) in store.problems[0]


@pytest.mark.parametrize(
    ("started", "why"),
    [
        ('{"living": "soon"}', "boost start 'soon' is no time"),
        ('{"living": -1}', "boost start -1 is no time"),
        ('{"living": null}', "boost start None is no time"),
        ("[1700000000]", "are not a table"),
    ],
)
def test_a_malformed_boost_start_is_reported_and_the_boost_counts_as_over(tmp_path, started, why):
    store = StateStore(with_entry(tmp_path, "boost_started", started))
    restored = store.load()
    assert restored.zones == learned().zones  # still in boost: the supervisor ends it
    assert restored.boost_started == {}
    assert restored.defrost_intervals_s == learned().defrost_intervals_s
    assert len(store.problems) == 1 and why in store.problems[0]


def test_the_programs_last_switch_points_survive_a_restart(tmp_path):
    state = learned().with_schedule_applied("living", 1_796_000_000.0)
    store = StateStore(tmp_path / "state.json")
    assert store.save(state)
    assert StateStore(tmp_path / "state.json").load().schedule_applied == {
        "living": 1_796_000_000.0
    }


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("schedule_applied", '{"living": "06:30", "office": 1}', "switch point '06:30' is no time"),
        ("schedule_applied", '{"living": null, "office": 1}', "switch point None is no time"),
        ("schedule_applied", "[1796000000]", "are not a table"),
        ("programs", '{"living": [{"at": "25:00", "mode": "heat"}]}', "[0].at: not a time"),
        ("programs", '{"living": {"at": "06:30"}}', "not a JSON list of switch points"),
        ("programs", '[{"at": "06:30"}]', "programs [{'at': '06:30'}] are not a table"),
    ],
)
def test_a_malformed_last_switch_point_or_program_is_reported_and_ignored(
    tmp_path, key, value, why
):
    store = StateStore(with_entry(tmp_path, key, value))
    restored = store.load()
    assert restored.zones == learned().zones
    assert "living" not in restored.schedule_applied and "living" not in restored.programs
    assert len(store.problems) == 1 and why in store.problems[0], store.problems


def test_only_zones_with_a_program_keep_their_last_switch_point():
    program = [{"at": "06:30", "mode": "heat"}]
    living = ZoneConfig.model_validate(
        {"id": "living", "name": "Living", "bus": "b", "unit_id": 11, "schedule": program}
    )
    office = ZoneConfig(id="office", name="Office", bus="b", unit_id=14)
    saved = SavedState(schedule_applied={"living": 5.0, "office": 6.0, "gone": 7.0})
    assert fit_to_zones(saved, [living, office]).schedule_applied == {"living": 5.0}


PROGRAM = (
    SwitchPoint(at="06:30", days=["mon", "tue"], mode=ZoneMode.HEAT, temperature=21.5),
    SwitchPoint(at="22:00", mode=ZoneMode.HEAT_COOL, temperature_low=17.0, fan=FanSpeed.LOW),
)


def test_a_program_sent_over_mqtt_survives_a_restart(tmp_path):
    state = learned().with_program("office", PROGRAM).with_schedule_applied("office", 5.0)
    store = StateStore(tmp_path / "state.json")
    assert store.save(state)
    restored = StateStore(tmp_path / "state.json").load()
    assert restored.programs == {"office": PROGRAM}
    assert restored == state
    assert restored.with_program("office", ()).programs == {}


def test_a_file_written_before_programs_came_over_mqtt_loads_without_any(tmp_path):
    path = tmp_path / "state.json"
    doc = json.loads(encode_state(learned().with_schedule_applied("living", 5.0)))
    del doc["programs"]
    path.write_text(json.dumps(doc))
    store = StateStore(path)
    restored = store.load()
    assert restored == learned().with_schedule_applied("living", 5.0)
    assert restored.programs == {} and store.problems == []


def test_a_saved_program_that_no_longer_fits_the_config_is_dropped_with_a_warning(caplog):
    """The zone gone, a setpoint now out of its range, a mode its head no longer runs: the
    program goes (with its last switch point), and the config's program, if any, applies."""
    living = ZoneConfig.model_validate(
        {
            "id": "living",
            "name": "Living",
            "bus": "b",
            "unit_id": 11,
            "max_temperature": 21.0,
            "schedule": [{"at": "07:00", "mode": "heat"}],
        }
    )
    office = ZoneConfig(id="office", name="Office", bus="b", unit_id=14)
    den = ZoneConfig(id="den", name="Den", bus="b", unit_id=15)
    heat_only = head_with('{ 1 = "heat" }', None)
    saved = SavedState(
        programs={"living": PROGRAM, "office": PROGRAM, "den": PROGRAM[:1], "gone": PROGRAM},
        schedule_applied={"living": 5.0, "office": 6.0, "den": 7.0, "gone": 8.0},
    )
    with caplog.at_level(logging.WARNING):
        fitted = fit_to_zones(saved, [living, office, den], {"office": heat_only})
    assert fitted.programs == {"den": PROGRAM[:1]}
    assert fitted.schedule_applied == {"den": 7.0}
    assert "zone gone is no longer configured: its saved program is dropped" in caplog.text
    assert (
        "zone living: the program saved from MQTT no longer fits the config ([0].temperature:"
        " 21.5 °C is outside the zone's range 16..21 °C"
    ) in caplog.text
    assert "its configured program applies" in caplog.text
    assert "[1].mode: 'heat_cool' is not a mode the head runs (off, heat)" in caplog.text


def test_a_boost_start_of_a_zone_no_longer_in_boost_is_dropped_quietly(tmp_path):
    store = StateStore(with_entry(tmp_path, "boost_started", '{"office": 1700000000}'))
    assert store.load().boost_started == {} and store.problems == []


def test_a_boost_counts_from_when_the_zone_went_into_boost_until_it_leaves_it():
    state = SavedState({"living": ZoneSettings(mode=ZoneMode.HEAT)})
    boosted = state.with_zone("living", BOOSTING, 100.0)
    assert boosted.zones["living"] is BOOSTING and boosted.boost_started == {"living": 100.0}
    # Another change during the boost, or boost chosen again, keeps its start.
    quieter = boosted.with_zone("living", replace(BOOSTING, fan_mode=FanSpeed.QUIET), 200.0)
    again = quieter.with_zone("living", quieter.zones["living"], 300.0)
    assert quieter.boost_started == again.boost_started == {"living": 100.0}
    over = again.with_zone("living", replace(BOOSTING, preset=Preset.COMFORT), 400.0)
    assert over.boost_started == {}
    assert state.boost_started == {}  # each is a new state


# -- group commit --


class Applied:
    """on_durable: records what took effect, and what the file held at that moment."""

    def __init__(self, path):
        self.path = path
        self.states: list[SavedState] = []
        self.on_disk: list[SavedState] = []

    def __call__(self, state: SavedState) -> None:
        self.states.append(state)
        self.on_disk.append(decode_state(self.path.read_bytes()))


async def test_settings_take_effect_only_once_on_disk(tmp_path):
    store = StateStore(tmp_path / "state.json")
    applied = Applied(store.path)
    committer = SettingsCommitter(store, applied)
    committer.submit(sample(21.0))
    assert committer.pending == sample(21.0)
    await committer.flush()
    assert committer.pending is None
    assert applied.states == applied.on_disk == [sample(21.0)]


def counted_writes(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> list[SavedState]:
    """Every state the store is asked to write, from now on."""
    writes: list[SavedState] = []
    save = store.save

    def counted(state: SavedState) -> bool:
        writes.append(state)
        return save(state)

    monkeypatch.setattr(store, "save", counted)
    return writes


async def test_a_burst_of_changes_costs_at_most_two_writes(tmp_path, monkeypatch):
    store = StateStore(tmp_path / "state.json")
    writes = counted_writes(store, monkeypatch)
    applied = Applied(store.path)
    committer = SettingsCommitter(store, applied)
    committer.submit(sample(20.0))
    await asyncio.sleep(0)  # its write is under way
    for temperature in (20.5, 21.0, 21.5, 22.0):
        committer.submit(sample(temperature))
    await committer.flush()
    assert writes[-1] == sample(22.0)
    assert len(writes) <= 2
    assert applied.states == applied.on_disk == writes


QUICK_RETRY = Backoff(0.01, 0.04)


async def test_a_failing_disk_still_applies_the_settings_and_says_so_once(tmp_path, caplog):
    state_dir = tmp_path / "state"
    state_dir.write_text("")  # a file where the directory should be: fails for root too
    store = StateStore(state_dir / "state.json")
    applied: list[SavedState] = []
    unsaved: list[bool] = []
    committer = SettingsCommitter(store, applied.append, on_unsaved=unsaved.append)
    with caplog.at_level(logging.ERROR):
        for temperature in (20.0, 21.0):
            committer.submit(sample(temperature))
            await committer.flush()
    assert applied == [sample(20.0), sample(21.0)]
    assert committer.unsaved and unsaved == [True]
    assert caplog.text.count("cannot write state file") == 1


def no_directory(tmp_path):
    """A file where the state directory should be (fails for root too): its path, its cure."""
    state_dir = tmp_path / "state"
    state_dir.write_text("")
    return state_dir / "state.json", state_dir.unlink


def full_disk(tmp_path):
    """ENOSPC, as on a full disk: the temp file every write goes through is /dev/full."""
    path = tmp_path / "state.json"
    temp = path.with_name(f".{path.name}.tmp")
    temp.symlink_to("/dev/full")
    return path, temp.unlink


@pytest.mark.parametrize("failing", [no_directory, full_disk])
async def test_an_unsaved_setting_is_written_once_the_disk_recovers(
    tmp_path, caplog, monkeypatch, failing
):
    path, recover = failing(tmp_path)
    store = StateStore(path)
    writes = counted_writes(store, monkeypatch)
    saved = asyncio.Event()
    committer = SettingsCommitter(
        store,
        lambda _: None,
        on_unsaved=lambda unsaved: None if unsaved else saved.set(),
        retry=QUICK_RETRY,
    )
    with caplog.at_level(logging.INFO):
        committer.submit(sample(26.0))
        await committer.flush()
        async with asyncio.timeout(2):
            while len(writes) < 4:  # noqa: ASYNC110 - the retries are what is counted
                await asyncio.sleep(0.01)
        assert committer.unsaved and not saved.is_set()
        recover()
        async with asyncio.timeout(2):
            await saved.wait()
    assert not committer.unsaved
    assert decode_state(store.path.read_bytes()) == sample(26.0)
    assert all(state == sample(26.0) for state in writes)
    assert caplog.text.count("cannot write state file") == 1
    assert caplog.text.count("written again") == 1


async def test_a_new_setting_is_written_at_once_while_the_retries_wait(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.write_text("")
    store = StateStore(state_dir / "state.json")
    committer = SettingsCommitter(store, lambda _: None, retry=Backoff(60.0, 60.0))
    committer.submit(sample(20.0))
    await committer.flush()
    assert committer.unsaved
    state_dir.unlink()
    committer.submit(sample(21.0))  # not a minute later: now
    await committer.flush()
    assert not committer.unsaved
    assert decode_state(store.path.read_bytes()) == sample(21.0)


async def test_a_hung_disk_does_not_freeze_the_controls(tmp_path, caplog):
    release = threading.Event()

    class SlowStore(StateStore):
        def save(self, state: SavedState) -> bool:
            release.wait(5)
            return super().save(state)

    store = SlowStore(tmp_path / "state.json")
    applied: list[SavedState] = []
    unsaved: list[bool] = []
    committer = SettingsCommitter(store, applied.append, on_unsaved=unsaved.append, timeout_s=0.05)
    committer.submit(sample(20.0))
    with caplog.at_level(logging.ERROR):
        async with asyncio.timeout(2):
            while not applied:  # noqa: ASYNC110 - the committer offers no event for this
                await asyncio.sleep(0.01)
    assert applied == [sample(20.0)]
    assert committer.unsaved  # in effect, not yet on disk
    assert "takes over" in caplog.text
    release.set()
    await committer.flush()
    async with asyncio.timeout(2):
        while committer.unsaved:  # noqa: ASYNC110 - the write ends in a worker thread
            await asyncio.sleep(0.01)
    assert unsaved == [True, False]
    assert decode_state(store.path.read_bytes()) == sample(20.0)


# -- first start: a zone's configured initial mode, where nothing was saved for it --


def test_a_zone_with_nothing_saved_starts_in_its_initial_mode_and_saved_settings_win():
    living = ZoneConfig(id="living", name="Living", bus="b", unit_id=11, initial_mode=ZoneMode.HEAT)
    office = ZoneConfig(id="office", name="Office", bus="b", unit_id=14)
    first = fit_to_zones(SavedState(), [living, office]).zones
    assert (first["living"].mode, first["living"].target_temperature) == (ZoneMode.HEAT, 21.0)
    assert first["living"].last_on_mode is ZoneMode.HEAT
    assert first["office"].mode is ZoneMode.OFF  # the default: no initial_mode
    # Turned off since: the saved off stands, however the config starts the zone.
    turned_off = SavedState({"living": replace(first["living"], mode=ZoneMode.OFF)})
    assert fit_to_zones(turned_off, [living]).zones["living"].mode is ZoneMode.OFF
    # A zone added to a house whose state file knows the others starts as configured.
    added = fit_to_zones(SavedState({"office": first["office"]}), [living, office]).zones
    assert added["living"].mode is ZoneMode.HEAT and added["office"].mode is ZoneMode.OFF


def test_a_zone_starting_in_heat_cool_takes_its_configured_range():
    def first(high: float | None = None) -> ZoneSettings:
        zone = ZoneConfig(
            id="living",
            name="Living",
            bus="b",
            unit_id=11,
            initial_mode=ZoneMode.HEAT_COOL,
            default_temperature=20.0,
            default_temperature_high=high,
        )
        return fit_to_zones(SavedState(), [zone]).zones["living"]

    configured = first(25.5)
    assert configured.mode is ZoneMode.HEAT_COOL
    assert (configured.target_temperature_low, configured.target_temperature_high) == (20.0, 25.5)
    assert first().target_temperature_high == 23.0  # 3 K above, without the key


ROOM = RoomRates(2.4, 1.9, 0.035, 12, -0.3, 1.7)


def test_what_the_rooms_showed_survives_a_restart_and_a_file_without_it_loads(tmp_path):
    store = StateStore(tmp_path / "state.json")
    assert store.save(learned().with_room_rates({"living": ROOM}))
    assert StateStore(tmp_path / "state.json").load().room_rates == {"living": ROOM}
    assert StateStore(with_entry(tmp_path, "programs", "{}")).load().room_rates == {}


def rates_entry(change: str) -> str:
    """A room_rates table of one good entry with ``change`` (JSON text) written over it."""
    return '{"living": {"heat_gain": 2, "cool_gain": 2, "loss": 0.03, "drift": 0, ' + change + "}}"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('{"living": {"heat_gain": "fast"}}', "learned rates"),
        (rates_entry('"loss": -1'), "learned rates"),
        (rates_entry('"heat_gain": 1e400'), "learned rates"),
        (rates_entry('"learned": -2'), "learned rates"),
        (rates_entry('"learned": true'), "learned rates"),
        (rates_entry('"sun": -0.5'), "learned rates"),
        (rates_entry('"loss": 1' + "0" * 400), "learned rates"),  # an integer beyond any float
        (rates_entry('"sun": "bright"'), "learned rates"),
        ("[1, 2]", "are not a table"),
    ],
)
def test_damaged_room_rates_are_reported_and_learned_again(tmp_path, value, why):
    store = StateStore(with_entry(tmp_path, "room_rates", value))
    restored = store.load()
    assert restored.zones == learned().zones and restored.room_rates == {}
    assert len(store.problems) == 1 and why in store.problems[0], store.problems


def test_rates_saved_before_the_sun_was_learned_load_with_the_prior_sun(tmp_path):
    store = StateStore(with_entry(tmp_path, "room_rates", rates_entry('"learned": 3')))
    assert store.load().room_rates == {"living": RoomRates(2.0, 2.0, 0.03, 3, 0.0, PRIOR.sun)}
    assert store.problems == []


def test_the_rates_of_a_zone_no_longer_configured_are_dropped():
    saved = SavedState(room_rates={"living": ROOM, "attic": ROOM})
    zone = ZoneConfig.model_validate({"id": "living", "name": "L", "bus": "b", "unit_id": 11})
    assert fit_to_zones(saved, [zone]).room_rates == {"living": ROOM}
