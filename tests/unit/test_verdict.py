"""The verdict rules: baseline learning, the robust threshold, k-of-n alerts with hysteresis."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.inference.verdict import DeviceMemory, VerdictRules, judge, threshold_from

RULES = VerdictRules(baseline_windows=10, threshold_sigmas=6.0, alert_after=3, alert_window=5)


def run(scores, memory=None, rules=RULES, model="m@1"):
    memory = memory or DeviceMemory(model=model)
    verdicts = []
    for score in scores:
        verdict = judge(memory, score, model, rules)
        memory = verdict.memory
        verdicts.append(verdict)
    return verdicts


def learned(scores=(1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.02, 0.98, 1.0)):
    return run(scores)[-1].memory


def test_no_threshold_and_no_verdict_while_learning():
    verdicts = run([1.0] * 9)
    assert all(v.threshold is None and v.anomaly is None and v.alert is None for v in verdicts)
    assert verdicts[-1].memory.state == "learning"
    assert len(verdicts[-1].memory.baseline) == 9


def test_the_last_baseline_window_sets_the_threshold():
    memory = learned()
    assert memory.state == "normal"
    assert memory.threshold == pytest.approx(threshold_from(memory.baseline, 6.0))
    assert memory.threshold > max(memory.baseline)


def test_threshold_is_median_plus_robust_sigmas():
    rng = np.random.default_rng(1)
    scores = tuple(rng.normal(10.0, 1.0, 2000))
    assert threshold_from(scores, 3.0) == pytest.approx(13.0, abs=0.2)


def test_one_outlier_in_the_baseline_barely_moves_the_threshold():
    clean = tuple([1.0, 1.1, 0.9] * 10)
    assert threshold_from(clean + (1000.0,), 6.0) == pytest.approx(
        threshold_from(clean, 6.0), rel=0.05)


def test_a_constant_baseline_still_gets_a_threshold_above_it():
    assert threshold_from((2.0,) * 20, 6.0) > 2.0


def test_k_of_n_anomalous_windows_raise_one_alert():
    verdicts = run([5.0, 1.0, 5.0, 5.0, 5.0], memory=learned())
    assert [v.anomaly for v in verdicts] == [True, False, True, True, True]
    # the third anomalous window among the last five turns the device
    assert [v.alert for v in verdicts] == [None, None, None, "anomaly", None]
    assert "3 of the last 4 windows" in verdicts[3].reason


def test_back_to_normal_only_when_no_recent_window_is_anomalous():
    memory = run([5.0] * 3, memory=learned())[-1].memory
    assert memory.state == "anomaly"
    verdicts = run([1.0, 1.0, 1.0, 1.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0], memory=memory)
    alerts = [(i, v.alert) for i, v in enumerate(verdicts) if v.alert]
    assert alerts == [(9, "normal")]


def test_a_new_model_learns_a_new_baseline():
    memory = learned()
    verdict = judge(memory, 1.0, "m@2", RULES)
    assert verdict.threshold is None and verdict.memory.model == "m@2"
    assert verdict.memory.baseline == (1.0,)
