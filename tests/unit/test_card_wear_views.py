"""The card's wear as status, doctor and the metrics show it: from the daemon's state row in a
real store, "running" as the real run lock says (held here by the test, as a daemon does)."""

from __future__ import annotations

import time

import pytest

from gateway.config import StorageSection, load_config
from gateway.ops.doctor import check_card, run_checks
from gateway.ops.status import collect_status, render_status, status_json
from gateway.service.observe import metrics_snapshot
from gateway.service.runlock import RunLock
from gateway.service.wear import CardWearMeter, WriteMeter
from gateway.store.daemon_state import CardWear, DaemonState, write_daemon_state
from gateway.store.database import open_database
from tests.support import write_config


def wear(**changes) -> CardWear:
    figures = CardWear(written_bytes=7_000_000_000, bytes_per_day=20e9, measured_s=7200.0,
                       warming_up=True, card_bytes=32_000_000_000,
                       card_size_from="storage.card_gb", endurance_writes=500,
                       card_years=32e9 * 500 / 20e9 / 365, note="")
    figures.update(changes)  # type: ignore[typeddict-item]
    return figures


@pytest.fixture
def config(tmp_path):
    config = load_config(write_config(tmp_path / "c.toml", gateway_id="gw-wear",
                                      data_dir=tmp_path / "data", port=1883,
                                      extra="[storage]\ncard_gb = 32.0\n"))
    config.gateway.data_dir.mkdir()
    open_database(config.store_path).close()
    return config


@pytest.fixture
def running(config):
    lock = RunLock(config.gateway.data_dir)
    lock.acquire()
    yield
    lock.release()


def record(config, figures: CardWear | None) -> None:
    state = DaemonState(started_ms=1, updated_ms=int(time.time() * 1000),
                        broker_connected=True, queue_depth=0, stale_loops=[], unavailable={},
                        clock={"jumps": 0, "last_jump_s": 0.0, "last_jump_ms": None})
    if figures:
        state["wear"] = figures
    db = open_database(config.store_path)
    try:
        write_daemon_state(db.conn, state)
    finally:
        db.close()


def test_status_carries_the_running_daemons_figures(config, running):
    record(config, wear())
    status = collect_status(config)
    assert status["card_wear"] == wear()
    assert "wear" not in status["daemon"]  # the daemon key as it was: its figures are apart
    text = render_status(status)
    assert ("card:       20.00 GB written per day, over the last 2.0 h (warming up: the figure "
            "settles over a day); a 32.00 GB card (storage.card_gb) enduring 500 full writes "
            "lasts 2.2 years") in text
    assert '"card_wear": {"written_bytes": 7000000000' in status_json(status)


def test_status_warns_of_a_card_worn_out_within_two_years(config, running):
    record(config, wear(card_years=1.25, warming_up=False, measured_s=86_500.0))
    text = render_status(collect_status(config))
    assert "CARD WEAR:  20.00 GB written per day, over the last 1.0 days; a 32.00 GB card " \
           "(storage.card_gb) enduring 500 full writes lasts 1.2 years at this rate, under 2 " \
           "(gateway doctor)" in text


def test_a_stopped_daemons_last_figures_are_not_shown_as_todays(config):
    record(config, wear(card_years=1.25))
    status = collect_status(config)
    figures = status["card_wear"]
    assert (figures["bytes_per_day"], figures["card_years"]) == (None, None)
    assert figures["card_bytes"] == 32_000_000_000 and figures["endurance_writes"] == 3000
    assert figures["note"] == "not measured: the daemon is not running (it measures its own " \
                              "writes while it runs)"
    assert "card:       not measured: the daemon is not running" in render_status(status)


def test_status_without_a_store_says_nothing_was_measured(tmp_path):
    config = load_config(write_config(tmp_path / "c.toml", gateway_id="gw-new",
                                      data_dir=tmp_path / "none", port=1883))
    figures = collect_status(config)["card_wear"]
    assert figures["card_years"] is None and figures["card_size_from"] == "unknown"
    assert figures["note"].startswith("not measured: the daemon is not running")


def test_doctor_warns_under_two_years_and_passes_above():
    short = check_card(True, wear(card_years=1.25))
    assert not short.ok and "lasts 1.2 years, under 2" in short.detail
    assert "20 GB written per day (over the first 2.0 h only; settles in a day)" in short.detail
    assert "bigger or high-endurance card" in short.fix
    long = check_card(True, wear(card_years=8.0, warming_up=False))
    assert long.ok and long.detail == ("20 GB written per day: a 32 GB card (storage.card_gb) "
                                       "enduring 500 full writes lasts 8.0 years")


def test_doctor_does_not_pass_what_it_could_not_check():
    stopped = check_card(False, wear(card_years=8.0))
    assert not stopped.ok and "the daemon is not running" in stopped.detail
    not_yet = check_card(True, None)
    assert not not_yet.ok and "not checked yet" in not_yet.detail and "again" in not_yet.fix
    measuring = check_card(True, wear(bytes_per_day=None, card_years=None,
                                      note="measuring: no rate before 10 s of samples"))
    assert not measuring.ok and "not checked yet: measuring" in measuring.detail
    no_proc = check_card(True, wear(written_bytes=None, bytes_per_day=None, card_years=None,
                                    note="unknown: /proc/self/io does not give ..."))
    assert not no_proc.ok and no_proc.detail.startswith("card life unknown: /proc/self/io")
    no_size = check_card(True, wear(card_years=None, card_bytes=None,
                                    note="card size unknown: set storage.card_gb"))
    assert not no_size.ok and "storage.card_gb" in no_size.fix


def test_doctors_card_check_reads_the_store_and_the_lock(config, running, tmp_path):
    record(config, wear(card_years=0.5))
    card = next(c for c in run_checks(config, lambda cfg: tmp_path / "no-model")
                if c.name == "card")
    assert not card.ok and "0.5 years, under 2" in card.detail


def test_the_metrics_serve_the_daemons_figures_and_leave_out_what_is_not_measured(config):
    record(config, wear())
    snap = metrics_snapshot(config, 0, {})
    assert snap["storage_written_bytes"] == 7_000_000_000
    assert snap["storage_written_bytes_per_day"] == 20e9
    assert snap["storage_write_window_seconds"] == 7200.0
    assert snap["card_life_projected_years"] == pytest.approx(2.19, abs=0.01)
    record(config, wear(written_bytes=None, bytes_per_day=None, card_years=None, note="x"))
    snap = metrics_snapshot(config, 0, {})
    assert not {"storage_written_bytes", "storage_written_bytes_per_day",
                "card_life_projected_years"} & set(snap)


def test_a_reading_round_trips_through_the_state_row(config, running):
    counts = iter([(0.0, 1000), (30.0, 31_000)])
    samples = [next(counts)]
    meter = WriteMeter(read=lambda: samples[-1][1], clock=lambda: samples[-1][0])
    reader = CardWearMeter(StorageSection(card_gb=0.001, card_endurance_writes=1),
                           config.gateway.data_dir, meter)
    reader.reading()
    samples.append(next(counts))
    record(config, reader.reading())
    figures = collect_status(config)["card_wear"]
    assert figures["bytes_per_day"] == pytest.approx(30_000 / 30 * 86_400)
    assert figures["card_years"] == pytest.approx(1e6 / 86.4e6 / 365)
