"""From a window's features to a verdict: the device's learned normal, its state and alerts.

Pure functions over plain values, so the rules can be tested without a store:
- a device (per stream) first learns from `baseline_windows` windows spread over at least
  `learn_spacing_ms` x baseline_windows of the windows' own time (one window per spacing:
  a machine's normal includes its day, its load and its neighbours, not the first minutes
  after installation), fitted on those in which it ran (windows of a stopped machine are
  kept out: baseline.py); if fewer than half of them ran (at least MIN_RUNNING_WINDOWS),
  it learns on until that many did; meanwhile it is `learning`;
- then each window is scored against that normal (baseline.py): the score is in units of
  the device's own spread, and `threshold_sigmas` is the threshold on every device;
- a window of a stopped machine (`off`) is neither scored as an anomaly nor learned, and
  does not vote;
- the device turns `anomaly` when `alert_after` of its last `alert_window` windows were
  anomalous, and back to `normal` only when none of them was (hysteresis);
- an absolute limit (ISO 10816 zone C/D for vibration) makes a window anomalous whatever the
  baseline says, also while learning (where it is still learned: see _learn);
- normal windows (score below `follow_below` x threshold, by default the threshold itself)
  pull the centre towards them by `follow_rate`, never more than `drift_cap` spreads from
  the learned centre: the cap, not the share, keeps a growing fault from being learned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from gateway.inference import baseline
from gateway.inference.audio_features import WindowFeatures
from gateway.inference.baseline import Fit
from gateway.inference.explain import describe, drivers

LEARNING, NORMAL, ANOMALY, OFF = "learning", "normal", "anomaly", "off"
MIN_RUNNING_WINDOWS = 10



@dataclass(frozen=True)
class VerdictRules:
    baseline_windows: int
    threshold_sigmas: float
    alert_after: int
    alert_window: int
    # share of the threshold under which a window is followed: every normal one. Half of it
    # left a drift faster than the following stranded between the two, unfollowed, until
    # marginal windows voted an alert (the rig's device-week at one window every 120 s).
    follow_below: float = 1.0
    follow_rate: float = 0.01  # how far each followed window pulls the centre
    drift_cap: float = 3.0  # spreads the centre may move from the learned one, at most
    # configured kinematics by device id ([machines.<id>]: vibration_features.Kinematics)
    machines: Mapping = field(default_factory=dict)
    # the least time between two learning windows ([inference] baseline_hours spread over
    # baseline_windows); 0 learns from every window, as they come
    learn_spacing_ms: int = 0


def spacing_ms(baseline_hours: float, baseline_windows: int) -> int:
    """The time between two learning windows that spreads the baseline over its hours."""
    return int(round(baseline_hours * 3_600_000 / baseline_windows))


def spacing_text(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:g} s"


def running_needed(rules: VerdictRules) -> int:
    """Running windows a fit needs: half the baseline, at least MIN_RUNNING_WINDOWS."""
    return max(MIN_RUNNING_WINDOWS, -(-rules.baseline_windows // 2))


@dataclass(frozen=True)
class Observation:
    """What the analysis of one window found."""

    features: WindowFeatures
    severe: str = ""  # an absolute limit broken ("ISO 10816 zone D ..."), else ""
    ts_ms: int | None = None  # the window's own time stamp (captured_at_ms)


@dataclass(frozen=True)
class DeviceMemory:
    """What is kept per device and stream between windows."""

    model: str
    levels: tuple[float, ...] = ()  # level of each learning window: the learning progress
    vectors: tuple[tuple[float, ...], ...] | None = None  # learning windows, when a fit is due
    fit: Fit | None = None
    centre: tuple[float, ...] | None = None  # the drifting centre, once fitted
    threshold: float | None = None
    state: str = LEARNING  # learning | normal | anomaly | off
    alarm: str = NORMAL  # the alert state, kept through off periods
    recent: str = ""  # the last alert_window verdicts, oldest first: "0" normal, "1" anomalous
    learned_at_ms: int | None = None  # time stamp of the last window learned


@dataclass(frozen=True)
class Verdict:
    memory: DeviceMemory
    score: float
    threshold: float | None
    anomaly: bool | None
    alert: str | None  # the new state when it changed between normal and anomaly
    reason: str
    details: dict  # state, why, drivers: merged into the result's details
    learned: tuple[float, ...] | None = None  # this window joined the learning set
    refit: bool = False  # the fit changed with this window: store it


def takes_for_learning(memory: DeviceMemory, observation: Observation,
                       rules: VerdictRules) -> bool:
    """Whether a window of a learning device joins its learning set: the first, then one at
    least `learn_spacing_ms` after the last one taken. A time stamp at or before that one
    (a box's clock set back, or stuck) is taken: a clock that does not advance must not
    keep a device learning for ever."""
    if memory.learned_at_ms is None or observation.ts_ms is None:
        return True
    since = observation.ts_ms - memory.learned_at_ms
    return since <= 0 or since >= rules.learn_spacing_ms


def needs_vectors(memory: DeviceMemory, rules: VerdictRules) -> bool:
    """Whether judging the next window may end learning (the store then loads the vectors)."""
    return memory.fit is None and len(memory.levels) + 1 >= rules.baseline_windows


def judge(memory: DeviceMemory, observation: Observation, model: str,
          rules: VerdictRules) -> Verdict:
    """The verdict on one window, and the device memory after it."""
    names = observation.features.names
    if memory.model != model or (memory.fit is not None and (
            memory.fit.names != names
            or memory.fit.features_version != baseline.FEATURES_VERSION)):
        # A new model or feature set (a bearing configured since, features defined anew)
        # scores on a new scale: its normal is learned afresh.
        memory = DeviceMemory(model=model)
    if memory.fit is None:
        return _learn(memory, observation, rules)
    features = observation.features
    normal = baseline.normal_for(memory.fit, features.level_db)
    # In the room's loud hours a stop cannot be told from running: the room is scored.
    if not observation.severe and normal is memory.fit and baseline.is_off(
            memory.fit, features.level_db, features.values, memory.centre,
            memory.state == OFF):
        drop = memory.fit.running_level_db - features.level_db
        why = f"machine off: level {drop:.0f} dB below its running level"
        heard = baseline.stop_heard(memory.fit, features.level_db, features.values,
                                    memory.centre)
        if heard is not None:
            why += f", {heard}"
        return Verdict(replace(memory, state=OFF), 0.0, memory.threshold, False, None, "",
                       {"state": OFF, "why": why, "drivers": []})
    return _score(memory, observation, rules, normal)


def _vote(memory: DeviceMemory, anomaly: bool, rules: VerdictRules, why: str
          ) -> tuple[str, str, str]:
    """The recent votes, the alert state after this window and the alert's reason."""
    recent = (memory.recent + ("1" if anomaly else "0"))[-rules.alert_window:]
    alarm, votes = memory.alarm, recent.count("1")
    reason = ""
    if alarm != ANOMALY and votes >= rules.alert_after:
        alarm = ANOMALY
        reason = f"{votes} of the last {len(recent)} windows anomalous: {why}"
    elif alarm == ANOMALY and votes == 0 and len(recent) >= rules.alert_window:
        alarm = NORMAL
        reason = f"none of the last {len(recent)} windows anomalous"
    return recent, alarm, reason


def _score(memory: DeviceMemory, observation: Observation, rules: VerdictRules,
           normal: Fit) -> Verdict:
    """The window against `normal`: the device's fit, or its room's (baseline.normal_for)."""
    fit, threshold, features = memory.fit, memory.threshold, observation.features
    if fit is None or threshold is None:  # _judge scores only a learned device
        raise ValueError("a device is scored only once its normal is learned")
    centre = np.asarray(memory.centre, np.float64)
    # The room's loud hours are scored against their own normal, from its learned centre:
    # only the machine's quiet hours are followed (what drifts is the machine).
    against = centre if normal is fit else normal.origin
    assessed = baseline.assess(normal, against, features.values)
    score = float(assessed.score)
    anomaly = score > threshold or bool(observation.severe)
    found = drivers(features, assessed.z, against)
    why = "; ".join(x for x in (observation.severe, describe(found)) if x) or "as usual"
    room = {} if normal is fit else {
        "room_over_machine_db": round(normal.running_level_db - fit.running_level_db, 1)}
    if room:
        why += (f" (the room's loud hours, {room['room_over_machine_db']:.0f} dB over the "
                "machine alone: only a loud fault shows)")
    recent, alarm, reason = _vote(memory, anomaly, rules, why)
    if not anomaly and not room and score < rules.follow_below * threshold:
        centre = baseline.follow(fit, centre, features.values, rules.follow_rate,
                                 rules.drift_cap)
    new_memory = replace(memory, centre=tuple(float(v) for v in centre), state=alarm,
                         alarm=alarm, recent=recent)
    alert = alarm if alarm != memory.alarm else None
    return Verdict(new_memory, score, memory.threshold, anomaly, alert, reason,
                   {"state": alarm, "why": why, "drivers": found, **room})


def _learn(memory: DeviceMemory, observation: Observation, rules: VerdictRules) -> Verdict:
    """One learning window. A window breaking an absolute limit is anomalous and votes for an
    alert, and is still learned: the baseline is this machine as it is (a machine installed
    in zone C must still get a normal to compare with), the limit alerts on its own."""
    features = observation.features
    recent, alarm, reason = memory.recent, memory.alarm, ""
    if observation.severe:
        recent, alarm, reason = _vote(memory, True, rules, observation.severe)
    alert = alarm if alarm != memory.alarm else None
    anomaly = True if observation.severe else None
    # A window too soon after the last one taken is passed over: not learned, not counted.
    taken = takes_for_learning(memory, observation, rules)
    vector = tuple(float(v) for v in features.values) if taken else None
    levels = memory.levels + (features.level_db,) if taken else memory.levels
    vectors = memory.vectors if memory.vectors is None or vector is None \
        else memory.vectors + (vector,)
    fitted = None
    if vector is not None and vectors is not None and len(levels) >= rules.baseline_windows:
        fitted = baseline.fit(features.names, np.asarray(vectors), np.asarray(levels),
                              features.floors, running_needed(rules), rules.threshold_sigmas)
    if fitted is None:
        state = ANOMALY if alarm == ANOMALY else LEARNING
        every = "" if taken else \
            f", one taken every {spacing_text(rules.learn_spacing_ms / 1000)}"
        why = f"learning this device's normal ({len(levels)} windows so far{every})"
        why = f"{observation.severe}; {why}" if observation.severe else why
        learned_at_ms = observation.ts_ms if taken else memory.learned_at_ms
        return Verdict(replace(memory, levels=levels, vectors=vectors, state=state, alarm=alarm,
                               recent=recent, learned_at_ms=learned_at_ms),
                       0.0, None, anomaly, alert, reason,
                       {"state": state, "why": why, "drivers": []}, learned=vector)
    new_memory = replace(memory, levels=levels, vectors=None, fit=fitted,
                         centre=tuple(float(v) for v in fitted.origin),
                         threshold=float(rules.threshold_sigmas), state=alarm, alarm=alarm,
                         recent=recent, learned_at_ms=observation.ts_ms)
    why = f"normal learned from {fitted.windows} running windows"
    if fitted.room is not None:
        why += (f" in a quiet room and {fitted.room.windows} of the room's loud hours "
                f"({fitted.room.running_level_db - fitted.running_level_db:.0f} dB over it)")
    why = f"{observation.severe}; {why}" if observation.severe else why
    return Verdict(new_memory, 0.0, None, anomaly, alert, reason,
                   {"state": LEARNING, "why": why, "drivers": []}, learned=vector, refit=True)
