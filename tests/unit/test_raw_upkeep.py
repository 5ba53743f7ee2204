"""Retention and raw segments (store/raw_upkeep.py): a segment goes when no window needs it,
long-kept raw does not pin a dead segment, the disk accounting counts segments, and the
[storage] keep_normal_raw_every policy keeps what it promises."""

from __future__ import annotations

from gateway.inference.results import ResultStore
from gateway.ops.status import render_status
from gateway.store.counters import read_counters
from gateway.store.segments import list_segments, raw_dir_of, segment_bytes
from tests.unit.test_retention import DAY, KIB, MINUTE, NOW, retention, site  # noqa: F401

__all__ = ["site"]  # the fixture


def segments_of(site) -> list[int]:
    return list_segments(raw_dir_of(site.path))


def segment_of(site, window_id: int) -> int | None:
    return site.conn.execute("SELECT raw_segment FROM windows WHERE id = ?",
                             (window_id,)).fetchone()[0]


def blob(site, window_id: int) -> bytes | None:
    return site.conn.execute("SELECT payload FROM windows WHERE id = ?",
                             (window_id,)).fetchone()[0]


def test_a_segment_goes_once_no_window_references_it_but_never_the_newest(site):
    # 40 KiB windows in 64 KiB segments: one segment each.
    old = [site.window(age_ms=40 * DAY - n * MINUTE, size=40 * KIB) for n in range(3)]
    for window_id in old:
        site.result(window_id, anomaly=0)
    newest = site.window(age_ms=0, size=40 * KIB)
    assert len(segments_of(site)) == 4
    ret = retention(site, disk_budget_mb=1024)
    try:
        report = ret.run_once(NOW)
    finally:
        ret.close()
    assert report.deleted == {"raw_normal": 3} and report.segments_deleted == 3
    assert segments_of(site) == [segment_of(site, newest)]


def test_the_newest_segment_stays_while_the_writer_may_append_to_it(site):
    window_id = site.window(age_ms=40 * DAY, size=10 * KIB)
    site.result(window_id, anomaly=0)
    ret = retention(site, disk_budget_mb=1024)
    try:
        report = ret.run_once(NOW)
    finally:
        ret.close()
    assert report.deleted == {"raw_normal": 1} and report.segments_deleted == 0
    assert len(segments_of(site)) == 1


def test_an_anomalys_raw_moves_out_of_a_dead_segment_once_and_the_segment_goes(site):
    # Four 15 KiB windows share a 64 KiB segment: three normal, one anomalous.
    windows = [site.window(age_ms=20 * DAY - n * MINUTE, size=15 * KIB) for n in range(4)]
    assert len({segment_of(site, w) for w in windows}) == 1
    anomaly = windows[1]
    expected = bytes([anomaly % 251]) * 15 * KIB  # Site.window's payload
    for window_id in windows:
        site.result(window_id, anomaly=int(window_id == anomaly))
    site.window(age_ms=0, size=60 * KIB)  # a newer segment
    ret = retention(site, disk_budget_mb=1024, raw_normal_days=7.0)
    try:
        report = ret.run_once(NOW)
        again = ret.run_once(NOW)
    finally:
        ret.close()
    assert report.deleted == {"raw_normal": 3}
    assert report.raw_moved == 1 and report.segments_deleted == 1
    assert len(segments_of(site)) == 1  # the newer one
    assert blob(site, anomaly) == expected and segment_of(site, anomaly) is None
    assert again.raw_moved == 0 and again.deleted == {}
    results = ResultStore(site.path)
    assert results.load_window(anomaly).payload == expected
    results.close()


def test_raw_waiting_for_analysis_is_not_moved_and_keeps_its_segment(site):
    windows = [site.window(age_ms=20 * DAY - n * MINUTE, size=15 * KIB) for n in range(4)]
    for window_id in windows[:3]:
        site.result(window_id, anomaly=0)  # the fourth is not analysed yet
    site.window(age_ms=0, size=60 * KIB)
    ret = retention(site, disk_budget_mb=1024, raw_normal_days=7.0)
    try:
        report = ret.run_once(NOW)
    finally:
        ret.close()
    assert report.deleted == {"raw_normal": 3} and report.raw_moved == 0
    assert segment_of(site, windows[3]) in segments_of(site)


def test_the_disk_accounting_counts_raw_segments(site):
    ret = retention(site, disk_budget_mb=1024)
    try:
        before = ret.usage().used
        site.window(age_ms=0, size=300 * KIB)
        after = ret.usage().used
    finally:
        ret.close()
    assert segment_bytes(raw_dir_of(site.path)) == 300 * KIB
    assert after - before >= 300 * KIB


def _analysed(site, anomaly):
    window_id = site.window(age_ms=MINUTE, size=2 * KIB)
    if anomaly == "dead":
        site.dead(window_id)
    elif anomaly != "waiting":
        site.result(window_id, anomaly=anomaly)
    return window_id


def test_keep_normal_raw_every_keeps_every_nth_normal_and_all_else(site):
    kinds = [0, 0, 1, 0, None, 0, "dead", 0, 0, 0]  # normal, anomaly, learning, dead
    windows = [_analysed(site, kind) for kind in kinds]
    waiting = _analysed(site, "waiting")
    later = _analysed(site, 0)
    ret = retention(site, disk_budget_mb=1024, keep_normal_raw_every=3)
    try:
        report = ret.run_once(NOW)
        normals = [w for w, kind in zip(windows, kinds, strict=True) if kind == 0]
        kept = [w for w, kind in zip(windows, kinds, strict=True) if kind != 0]
        # Of the seven normal windows the 1st, 4th and 7th keep their raw.
        assert site.raw() == {normals[0], normals[3], normals[6], *kept, waiting, later}
        assert report.deleted == {"raw_policy": 4}
        # The waiting window stopped the walk: the window after it is judged after it.
        site.result(waiting, anomaly=0)
        second = ret.run_once(NOW)
    finally:
        ret.close()
    assert second.deleted == {"raw_policy": 2}  # the 8th and 9th normal windows
    assert site.raw() == {normals[0], normals[3], normals[6], *kept}


def test_the_policy_counts_what_it_dropped_and_status_says_so(site):
    for _ in range(4):
        _analysed(site, 0)
    ret = retention(site, disk_budget_mb=1024, keep_normal_raw_every=2)
    try:
        ret.run_once(NOW)
    finally:
        ret.close()
    assert read_counters(site.conn).raw_dropped_by_policy == 2
    status = {"gateway_id": "g", "running": False, "pid": None, "data_dir": "/d",
              "disk": {"used_bytes": 0, "broker_bytes": 0, "budget_bytes": 1},
              "received": {"audio": 0, "vibration": 0, "telemetry": 0}, "rejected": 0,
              "rejected_by_reason": {}, "inferred": 0, "pending_inference": 0,
              "dead_letters": 0, "synced": 0, "pending_sync": 0, "sync_off": "",
              "devices": [], "recent_rejections": [], "raw_dropped_by_policy": 2}
    assert "2 normal windows' raw data dropped after analysis" in render_status(status, NOW)


def test_the_policy_off_writes_nothing(site):
    for _ in range(3):
        _analysed(site, 0)
    ret = retention(site, disk_budget_mb=1024)
    try:
        ret.run_once(NOW)
    finally:
        ret.close()
    assert len(site.raw()) == 3
    assert site.conn.execute("SELECT count(*) FROM meta WHERE key = 'raw_policy'").fetchone() \
        == (0,)
