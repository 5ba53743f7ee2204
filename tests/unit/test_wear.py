"""What the daemon writes to storage and the card life it projects (service/wear.py): the
real /proc/self/io, the rate over a rolling day, the projection's arithmetic."""

from __future__ import annotations

import os
import shutil

import pytest

from gateway.config import StorageSection
from gateway.service.wear import (
    DAY_S,
    MIN_SPAN_S,
    PROC_IO,
    CardWearMeter,
    WriteMeter,
    card_bytes,
    projected_years,
    read_write_bytes,
    span_text,
)
from tests.support import in_memory_file_system


class Counts:
    """A byte count and a clock the test moves: the meter's two inputs."""

    def __init__(self):
        self.now, self.written = 1000.0, 5_000_000

    def advance(self, seconds: float, written: int) -> None:
        self.now += seconds
        self.written += written


def meter_on(counts: Counts, **kwargs) -> WriteMeter:
    return WriteMeter(read=lambda: counts.written, clock=lambda: counts.now, **kwargs)


@pytest.mark.skipif(not PROC_IO.exists(), reason="no /proc/self/io here")
def test_the_real_count_grows_by_what_this_process_writes(tmp_path):
    if in_memory_file_system(tmp_path):
        pytest.skip("a file system in memory sends nothing to storage")
    before = read_write_bytes()
    with open(tmp_path / "data", "wb") as f:
        f.write(os.urandom(2 * 1024 * 1024))
        f.flush()
        os.fsync(f.fileno())
    after = read_write_bytes()
    assert isinstance(before, int) and isinstance(after, int)
    assert after - before >= 2 * 1024 * 1024


def test_without_proc_the_count_is_unknown_not_zero(tmp_path):
    assert read_write_bytes(tmp_path / "no-such-file") is None
    (tmp_path / "io").write_text("rchar: 10\nwchar: 20\n")  # a kernel without the line
    assert read_write_bytes(tmp_path / "io") is None
    (tmp_path / "io").write_text("rchar: 10\nwrite_bytes: 4096\ncancelled_write_bytes: 0\n")
    assert read_write_bytes(tmp_path / "io") == 4096


def test_the_projection_is_size_times_endurance_over_the_daily_writes():
    # docs/performance.md's first run: 122.7 GB/day on a 32 GB card at 3,000 full writes.
    assert projected_years(122.7e9, 32_000_000_000, 3000) == pytest.approx(2.14, abs=0.005)
    assert projected_years(1e9, 1_000_000_000, 365) == pytest.approx(1.0)
    assert projected_years(0.0, 32_000_000_000, 3000) is None


def test_no_rate_before_two_samples_a_state_interval_apart():
    counts = Counts()
    meter = meter_on(counts)
    first = meter.sample()
    assert first.bytes_per_day is None and first.warming_up and first.span_s == 0
    counts.advance(MIN_SPAN_S - 1, 10_000)
    assert meter.sample().bytes_per_day is None
    counts.advance(1, 0)
    rate = meter.sample()
    assert rate.bytes_per_day == pytest.approx(10_000 / MIN_SPAN_S * DAY_S)
    assert rate.written_bytes == 5_010_000 and rate.warming_up


def test_the_rate_is_measured_from_the_first_sample_while_warming_up():
    counts = Counts()
    meter = meter_on(counts)
    meter.sample()  # taken after start-up: what came before is not projected
    for _ in range(360):  # an hour of state writes, 1 MB in all
        counts.advance(10, 1_000_000 // 360)
        rate = meter.sample()
    assert rate.span_s == pytest.approx(3600)
    assert rate.bytes_per_day == pytest.approx(24 * 1_000_000, rel=0.01)
    assert rate.warming_up


def test_after_a_day_the_rate_covers_the_last_day_only():
    counts = Counts()
    meter = meter_on(counts)
    meter.sample()
    counts.advance(3600, 50_000_000_000)  # a first hour of heavy writing
    meter.sample()
    for _ in range(3 * 8640):  # then three days at 1 GB a day, sampled every 10 s
        counts.advance(10, 1_000_000_000 // 8640)
        rate = meter.sample()
    assert not rate.warming_up
    assert DAY_S <= rate.span_s < DAY_S + meter.step_s + 10
    assert rate.bytes_per_day == pytest.approx(1e9, rel=0.01)
    assert len(meter._kept) <= DAY_S / meter.step_s + 2  # a day is a few hundred samples


def test_an_unreadable_count_gives_no_rate():
    meter = WriteMeter(read=lambda: None)
    assert meter.sample() is None


def test_the_card_size_comes_from_the_config_else_the_file_system(tmp_path):
    assert card_bytes(StorageSection(card_gb=32.0), tmp_path) == (32_000_000_000,
                                                                  "storage.card_gb")
    assert card_bytes(StorageSection(), tmp_path) == (shutil.disk_usage(tmp_path).total,
                                                      "file system")
    assert card_bytes(StorageSection(), tmp_path / "missing") == (None, "unknown")


def test_a_reading_on_a_small_card_projects_under_two_years(tmp_path):
    counts = Counts()
    wear = CardWearMeter(StorageSection(card_gb=0.001, card_endurance_writes=10), tmp_path,
                         meter_on(counts))
    first = wear.reading()
    assert first["card_years"] is None and first["note"].startswith("measuring")
    counts.advance(60, 60_000)  # 86.4 MB a day on a 1 MB card enduring 10 full writes
    reading = wear.reading()
    assert reading["bytes_per_day"] == pytest.approx(86_400_000)
    assert reading["card_years"] == pytest.approx(1e6 * 10 / 86.4e6 / 365)
    assert reading["card_bytes"] == 1_000_000 and reading["endurance_writes"] == 10
    assert reading["measured_s"] == 60 and reading["warming_up"] and reading["note"] == ""


def test_without_proc_every_figure_is_unknown(tmp_path):
    wear = CardWearMeter(StorageSection(), tmp_path, WriteMeter(read=lambda: None))
    reading = wear.reading()
    assert (reading["written_bytes"], reading["bytes_per_day"], reading["card_years"]) == \
        (None, None, None)
    assert reading["note"].startswith("unknown:")


def test_nothing_written_is_no_end_in_sight_not_a_division_by_zero(tmp_path):
    counts = Counts()
    wear = CardWearMeter(StorageSection(card_gb=32.0), tmp_path, meter_on(counts))
    wear.reading()
    counts.advance(60, 0)
    reading = wear.reading()
    assert reading["bytes_per_day"] == 0 and reading["card_years"] is None
    assert "nothing written" in reading["note"]


def test_spans_read_as_a_person_says_them():
    assert [span_text(s) for s in (40, 720, 5.5 * 3600, 2 * DAY_S)] == \
        ["40 s", "12 min", "5.5 h", "2.0 days"]
