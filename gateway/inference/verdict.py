"""From a score to a verdict: per-device baselines, thresholds and the alert state.

Pure functions over plain values, so the rules can be tested without a store:
- a device (per stream) first learns `baseline_windows` scores of "normal";
- its threshold is the baseline median plus `threshold_sigmas` robust standard
  deviations (1.4826 × median absolute deviation, which one loud window in the
  baseline cannot drag upwards the way a standard deviation would);
- it turns "anomaly" when `alert_after` of its last `alert_window` windows were
  anomalous, and back to "normal" only when none of them was (hysteresis, so a
  borderline device does not flap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826  # makes the MAD a standard-deviation estimate for normal data
RELATIVE_SPREAD_FLOOR = 0.02  # a spread of at least 2 % of the median, for very steady devices


@dataclass(frozen=True)
class VerdictRules:
    baseline_windows: int
    threshold_sigmas: float
    alert_after: int
    alert_window: int


@dataclass(frozen=True)
class DeviceMemory:
    """What is kept per device and stream between windows."""

    model: str
    baseline: tuple[float, ...] = ()
    threshold: float | None = None
    state: str = "learning"  # "learning" | "normal" | "anomaly"
    recent: str = ""  # the last alert_window verdicts, oldest first: "0" normal, "1" anomalous


@dataclass(frozen=True)
class Verdict:
    memory: DeviceMemory
    threshold: float | None
    anomaly: bool | None
    alert: str | None  # the new state when it changed between normal and anomaly
    reason: str


def threshold_from(scores: tuple[float, ...], sigmas: float) -> float:
    values = np.asarray(scores, dtype=np.float64)
    median = float(np.median(values))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(values - median)))
    spread = max(spread, RELATIVE_SPREAD_FLOOR * abs(median), 1e-9)
    return median + sigmas * spread


def judge(memory: DeviceMemory, score: float, model: str, rules: VerdictRules) -> Verdict:
    """The verdict on one window's score, and the device memory after it."""
    if memory.model != model:
        # A new model scores on a new scale: its baseline is learned afresh.
        memory = DeviceMemory(model=model)
    if memory.threshold is None:
        return _learn(memory, score, rules)
    anomaly = score > memory.threshold
    recent = (memory.recent + ("1" if anomaly else "0"))[-rules.alert_window:]
    state, votes = memory.state, recent.count("1")
    if state != "anomaly" and votes >= rules.alert_after:
        state = "anomaly"
        reason = (f"{votes} of the last {len(recent)} windows scored above the threshold "
                  f"{memory.threshold:.4g}")
    elif state == "anomaly" and votes == 0 and len(recent) >= rules.alert_window:
        state = "normal"
        reason = f"none of the last {len(recent)} windows scored above the threshold"
    else:
        reason = ""
    # A device leaves "learning" as "normal" (see _learn), so any change here is news.
    alert = state if state != memory.state else None
    new_memory = DeviceMemory(model=model, baseline=memory.baseline, threshold=memory.threshold,
                              state=state, recent=recent)
    return Verdict(new_memory, memory.threshold, anomaly, alert, reason)


def _learn(memory: DeviceMemory, score: float, rules: VerdictRules) -> Verdict:
    baseline = memory.baseline + (float(score),)
    threshold = None
    state = "learning"
    if len(baseline) >= rules.baseline_windows:
        threshold = threshold_from(baseline, rules.threshold_sigmas)
        state = "normal"
    new_memory = DeviceMemory(model=memory.model, baseline=baseline, threshold=threshold,
                              state=state, recent="")
    return Verdict(new_memory, None, None, None, "")
