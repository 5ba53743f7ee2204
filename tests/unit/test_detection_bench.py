"""The pure parts of bench/detection.py: the AUC, the z-score peer and the figures."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from bench.detection import CADENCE_S, MAX_BASELINE_FACTOR, RUNNING_SHARE, baseline_plan
from bench.detection_figures import (
    Sent,
    ZScorePeer,
    auc_figures,
    audio_levels,
    by_device,
    onset_figures,
    roc_auc,
    week_figures,
)


def test_roc_auc_counts_pairs_and_ties_half():
    assert roc_auc([1, 2, 3], [4, 5]) == 1.0
    assert roc_auc([4, 5], [1, 2, 3]) == 0.0
    assert roc_auc([1, 1], [1, 1]) == 0.5
    assert roc_auc([1, 2, 3], [2, 4]) == pytest.approx(4.5 / 6)  # 2 ties with 2, beats 1
    assert roc_auc([], [1]) is None


def noise(rng, rate=16_000, level=0.01):
    return level * rng.standard_normal(rate)


@pytest.mark.parametrize("rate", [16_000, 44_100, 48_000])
def test_band_levels_are_finite_and_a_tone_lands_in_its_band(rate):
    rng = np.random.default_rng(0)
    t = np.arange(rate) / rate
    edges = np.geomspace(50, 8000, 33)
    band = 24
    tone = np.sqrt(edges[band] * edges[band + 1])
    quiet = audio_levels(noise(rng, rate, 1e-3), rate)
    levels = audio_levels(noise(rng, rate, 1e-3) + 0.1 * np.sin(2 * np.pi * tone * t), rate)
    assert levels.shape == (32,) and np.all(np.isfinite(levels))  # bands narrower than a bin
    assert abs(int(np.argmax(levels)) - band) <= 1
    assert levels[band] > quiet[band] + 10


def test_peer_scores_a_changed_spectrum_higher_and_ignores_off_windows():
    rng = np.random.default_rng(1)
    t = np.arange(16_000) / 16_000
    running = [audio_levels(noise(rng), 16_000) for _ in range(40)]
    off = [audio_levels(noise(rng, level=1e-4), 16_000) for _ in range(10)]
    peer = ZScorePeer(np.array(running + off))
    assert np.allclose(peer.mean, ZScorePeer(np.array(running)).mean)
    healthy = peer.score(np.array([audio_levels(noise(rng), 16_000) for _ in range(10)]))
    tone = peer.score(np.array([audio_levels(noise(rng) + 0.1 * np.sin(2 * np.pi * 3000 * t),
                                             16_000) for _ in range(10)]))
    assert tone.min() > healthy.max()


def row(device, kind, severity, score, peer, anomaly=False, state="normal"):
    return {"device": device, "kind": kind, "severity": severity, "score": score,
            "peer": peer, "anomaly": anomaly, "state": state}


def test_auc_figures_pool_devices_and_compare_with_the_peer():
    rows = [row(d, None, 0.0, s, s) for d in ("a", "b") for s in (1.0, 2.0)]
    rows += [row("a", "leak", 0.5, 3.0, 1.5, True), row("b", "leak", 0.5, 2.5, 0.5, True),
             row("a", "hum", 0.5, 0.5, 3.0), row("b", "hum", 0.5, None, 3.0)]
    figures, kinds = auc_figures("g", rows, ("leak", "hum"))
    assert figures["g_results_missing"] == 1
    assert figures["g_pooled_auc_s050"] == pytest.approx(
        roc_auc([1, 2, 1, 2], [3, 2.5, 0.5]), abs=1e-4)
    assert kinds["leak"]["s050"] == [1.0, pytest.approx(roc_auc([1, 2, 1, 2], [1.5, 0.5]))]
    assert figures["g_worst_kind_auc_s050"] == 0.0  # hum scored below every healthy window
    assert figures["g_flagged_s050"] == pytest.approx(2 / 3, abs=1e-4)
    assert figures["g_false_anomalies_healthy"] == 0.0
    assert figures["g_pooled_auc_s010"] is None  # no windows at that severity
    assert figures["g_test_called_off"] == 0.0


def test_running_test_windows_called_off_are_counted_per_device():
    rows = [row("a", None, 0.0, 0.0, 1.0, state="off"), row("a", None, 0.0, 1.0, 1.0),
            row("a", "leak", 0.5, 0.0, 2.0, state="off"), row("a", "leak", 0.5, 3.0, 2.0),
            row("b", None, 0.0, 1.0, 1.0), row("b", "leak", 0.5, 3.0, 2.0)]
    figures, _ = auc_figures("g", rows, ("leak",))
    assert figures["g_test_called_off"] == pytest.approx(2 / 6, abs=1e-4)
    assert figures["g_test_called_off_device_max"] == 0.5


def onset_windows(device, kind, start_ms, block):
    return [Sent(device, "audio", start_ms + i * 60_000, f"onset:{kind}",
                 kind if i >= block else None, 0.5 if i >= block else 0.0, True)
            for i in range(2 * block)]


def test_onset_counts_windows_to_the_first_anomaly_alert():
    block = 4
    sent = {(w.device, w.stream, w.ts_ms): w
            for kind, start in (("leak", 0), ("hum", 10_000_000), ("rattle", 20_000_000))
            for w in onset_windows("d", kind, start, block)}
    hum_fault = 10_000_000 + block * 60_000
    alerts = [{"device_id": "d", "state": "anomaly", "ts": (block + 2) * 60_000},  # leak: 3rd
              {"device_id": "d", "state": "normal", "ts": 5_000_000},
              {"device_id": "d", "state": "anomaly", "ts": 20_000_000},  # rattle: before onset
              {"device_id": "d", "state": "anomaly", "ts": hum_fault - 1}]
    figures = onset_figures("g", by_device(sent), alerts, ("leak", "hum", "rattle"), block)
    assert figures["g_onset_to_alert_worst"] == 3
    assert figures["g_onset_not_normal"] == 2  # hum and rattle started in anomaly
    figures = onset_figures("g", by_device(sent), alerts[:2], ("leak", "hum"), block)
    assert figures["g_onset_missed"] == 1 and figures["g_onset_to_alert_worst"] == block + 1


def test_week_counts_anomaly_alerts_of_the_week_devices_per_device_day():
    sent = {("rigweek-00", "audio", i * 120_000): Sent(
        "rigweek-00", "audio", i * 120_000, "week", None, 0.0, i % 3 != 0) for i in range(720)}
    alerts = [{"device_id": "rigweek-00", "state": "anomaly", "ts": 1},
              {"device_id": "rigweek-00", "state": "normal", "ts": 2},
              {"device_id": "rig-00", "state": "anomaly", "ts": 3}]
    results = {key: {"anomaly": key[2] % 360_000 == 0} for key in sent}  # the off windows
    figures = week_figures(by_device(sent), results, alerts, 120.0)
    assert figures["rig_week_flagged_off"] == 1.0 and figures["rig_week_flagged_running"] == 0.0
    assert figures["rig_week_flagged_running_by_device"] == {"rigweek-00": 0.0}
    figures = week_figures(by_device(sent), {}, alerts, 120.0)
    assert figures["rig_week_device_days"] == 1.0
    assert figures["rig_week_false_alerts_by_day"] == [1]
    assert figures["rig_false_alerts_per_device_day"] == 1.0
    assert figures["rig_week_results_missing"] == 720
    assert figures["rig_week_off_share"] == pytest.approx(1 / 3, abs=1e-3)


class _DutySource:
    """A unit that runs in one window of every `period` (1 for always)."""

    def __init__(self, period: int):
        self.period = period

    def running(self, unit, t_s: float) -> bool:
        return int(t_s // CADENCE_S) % self.period == 0


def _args(baseline: int = 150, hours: float = 24.0):
    return argparse.Namespace(baseline=baseline, baseline_hours=hours)


def test_the_baseline_lasts_until_the_unit_ran_in_enough_of_its_windows():
    steady, _ = baseline_plan(_DutySource(1), None, 0.0, _args())
    assert len(steady) == 150 and all(running for *_, running in steady)
    # a stopped-most-of-the-time unit: windows at the learning spacing go on until 60 % of
    # 150 ran, so the test begins once the daemon (which needs half) has learned
    rarely, after = baseline_plan(_DutySource(2), None, 0.0, _args(hours=0.0))
    ran = sum(running for *_, running in rarely)
    assert ran == int(RUNNING_SHARE * 150) and len(rarely) > 150
    assert after > rarely[-1][3]
    never, _ = baseline_plan(_DutySource(10**9), None, 60.0, _args())
    assert len(never) == MAX_BASELINE_FACTOR * 150


def test_the_windows_file_holds_each_window_sent_with_its_result(tmp_path):
    import json

    from bench.detection import write_windows
    # the plans give numpy's bools and floats: written as JSON's
    sent = {1: Sent("kitchen-00", "audio", 2000, "test", "refrigerant_leak", np.float64(0.5),
                    np.bool_(True)),
            2: Sent("kitchen-00", "audio", 1000, "baseline", None, 0.0, np.bool_(False))}
    results = {("kitchen-00", "audio", 2000): {
        "score": 4.2, "threshold": 3.0, "anomaly": True,
        "details": {"state": "anomaly", "level_db": -40.5, "why": "band 4.0-8.0 kHz +9σ"}}}
    path = tmp_path / "windows.jsonl"
    write_windows(path, sent, results)
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["ts_ms"] == 1000 and first["score"] is None and not first["running"]
    assert second == {"device": "kitchen-00", "stream": "audio", "ts_ms": 2000,
                      "phase": "test", "kind": "refrigerant_leak", "severity": 0.5,
                      "running": True, "score": 4.2, "threshold": 3.0, "anomaly": True,
                      "state": "anomaly", "level_db": -40.5, "why": "band 4.0-8.0 kHz +9σ"}


def test_the_replays_tape_gives_back_every_window_as_it_was_sent(tmp_path):
    from bench.detection_replay import Tape
    sent = [Sent("rig-00", "audio", 60_000 * i, "test", kind, severity, running,
                 levels=np.arange(3.0) + i)
            for i, (kind, severity, running) in enumerate(
                [(None, 0.0, True), ("leak", 0.25, True), (None, 0.0, False)])]
    payloads = [b"RIFF" + bytes([i]) * (100 * i) for i in range(3)]
    tape = Tape(tmp_path / "set.tape")
    tape.write(zip(sent, payloads, strict=True))
    assert not (tmp_path / "set.partial").exists()
    back = list(tape.read())
    assert [p for _, p in back] == payloads
    for (window, _), original in zip(back, sent, strict=True):
        assert (window.device, window.ts_ms, window.kind, window.severity, window.running) == \
            (original.device, original.ts_ms, original.kind, original.severity,
             original.running)
        assert np.array_equal(window.levels, original.levels)
