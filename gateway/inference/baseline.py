"""Each device's learned normal: a robust, shrunk-covariance Gaussian over its own features.

Fitted once from the device's first healthy running windows (numpy only):

1. **Off windows out.** The running level is the 90th percentile of the windows' levels;
   a window `OFF_DROP_DB` or more below it is the machine stopped (duty cycles), not learned;
   so is one `QUIETER_DB` below it whose band levels (rotation line for vibration) are that
   much quieter too (median over them): the room's noise alone, not a changed machine.
   When the learning windows hold a stopped sound of their own (learn_states: a quiet
   cluster well apart), that cluster decides instead, and a level drop alone only from
   `HARD_OFF_DROP_DB`: a machine on an inverter runs quietly at its lowest speed.
2. **Robust standardisation.** Per feature the median and 1.4826 x MAD (floored per feature:
   below the floor a change is round-off; at least STD_SHARE of the plain standard
   deviation, for a feature normal in two ways), so a few bad windows cannot move them
   much; z-values are clipped to +-`Z_CLIP` when the correlation is estimated.
3. **Shrunk correlation** (towards the identity, weight D / (D + N), at least 0.2): with ~100
   windows and ~40 features the sample correlation alone is singular. Its inverse gives the
   Mahalanobis distance d = sqrt(z' P z / D): a change shared by correlated features (the
   whole machine a little louder) counts once, a change in one feature counts fully.
4. **Calibration.** d of each baseline window is computed out of sample (5 folds), and the
   published score is (d - median) / (1.4826 x MAD) of those: "how many of this device's own
   spreads above its usual". The same threshold then means the same on every device.
5. Windows scoring above the threshold in a first pass (robust spreads alone) are dropped
   and the fit made without them, when they are a few (at most FEW_BAD_SHARE of them): bad
   windows in the baseline. More
   of them are another way this machine runs (a load, a speed, its neighbours running), which
   a learning day holds; dropping them taught the normal one mode and flagged the others.

Drift: a window scored normal (below `follow_below` x threshold) moves the centre by
`follow_rate` of its difference, and the centre never leaves `drift_cap` spreads of the
learned one, so slow drift is followed and a slowly growing fault is not learned away.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

# Of the condition features' definitions (audio_features, vibration_features): a fit made
# under another version is learned afresh (verdict.judge), as the stored one would
# compare this window's features with differently defined ones. 2: band levels as the
# median frame, kurtosis and modulation depth per eighth of a second, the refined speed.
# 3: each band's loud frames (90th percentile frame level) beside its median frame.
# 4: the plain spectrum, 32 log-spaced bands of mean power from 50 Hz to 8 kHz.
FEATURES_VERSION = 4
MAD_TO_SIGMA = 1.4826
OFF_DROP_DB = 12.0  # this far below the running level: the compressor is off
# With a learned off state (below) the device's own stopped sound decides, and a level
# drop alone calls a window off only from this far: a compressor on an inverter shakes
# 13-17 dB less at its lowest speed than at its median one, and the fixed 12 dB took
# its slow running for stops (screwhall's fourth accelerometer: 223 of 520 running test
# windows "off"; with this rule its bearing AUC 0.933 -> 0.9995, round 7 of docs/inference.md).
HARD_OFF_DROP_DB = 30.0
# The compressor's own lines (sound: the rotation 1x, 2x, 3x and 4-8x lines) this far under
# the running centre, median over them: the compressor is stopped, whatever the site around
# it sounds like. A stop of a kind the learning day did not hold (the brewery busy around a
# stopped chiller: 5 dB under its running level, its lines 26 dB under) was scored against
# the running normal and alerted (round 10 of docs/inference.md). A running fault moves the
# lines by a few dB, it does not take them away.
LINES_GONE_DB = 20.0
LINE_FEATURES = ("rotation 1x line", "rotation 2x line", "rotation 3x line",
                 "rotation 4-8x lines")
# With the motor's hum gone too, HUM_GONE_DB or more under (the mains line and its 2x, of
# either mains: the largest drop among them), lines this far under are enough: the farm's
# pumps and agitator keep the window loud and some lines half covered when the compressor
# stops (milkroom, round 11 of docs/inference.md).
LINES_WITH_HUM_GONE_DB = 12.0
HUM_GONE_DB = 15.0
HUM_FEATURES = ("50 Hz hum", "100 Hz hum", "60 Hz hum", "120 Hz hum")
# The motor's mains hum alone this far under the running centre, and HUM_ALONE_SIGMAS of
# its own learned spread (the largest such drop among HUM_FEATURES): the motor is not
# energised. A distribution centre's stops (freezerdock, round 12 of docs/inference.md):
# the unit coolers' fans turn on and the heaters tick through a defrost, so the lines the
# speed estimate finds are the fans' and the window is nearly as loud as running; the hum
# is what goes. The spread keeps an inverter-driven unit running: its hum follows the
# drive, not the mains, and a drop of 25 dB lies within its own spread. And the window must
# be HUM_QUIETER_DB quieter than running: a stopped motor takes its own sound with it, while
# rooftop's high head pressure moves the hum 26-34 dB with the machine running as loud.
HUM_ALONE_DB = 25.0
HUM_ALONE_SIGMAS = 6.0
HUM_QUIETER_DB = 1.5
QUIETER_DB = 6.0  # this far below, with the whole spectrum this much quieter too: also off
RUNNING_QUANTILE = 90.0
Z_CLIP = 6.0  # for estimating the correlation: one wild value cannot dominate it
SCORE_Z_CLIP = 1000.0  # when scoring: keeps every score finite
MIN_SHRINK = 0.2
FOLDS = 5
# Smallest spread of the distance: a baseline of a few steady hours does not hold a day of
# drift (0.05 left a hair trigger on the rig's week units; 0.15 hid sparse rattles).
CALIBRATION_FLOOR = 0.10
# Above-threshold learning windows dropped as bad (step 5) only up to this share; more are
# a way of running, kept (docs/inference.md, round 6).
FEW_BAD_SHARE = 0.1
# A feature's spread is at least this share of its plain standard deviation over the
# learning windows (round 6, with FEW_BAD_SHARE: coldroom's healthy windows flagged 13 % ->
# 0.6 % once learning spans a day, AUC +0.03 at severity 0.5; rackhall 9.4 % -> 0.6 %,
# +0.02 at 0.5, -0.03 at 0.25; the rig, plant, synth and rooftop within 0.005).
STD_SHARE = 0.5
# The off state (learn_states): levels that tell a stopped machine from a running one
STATE_LEVELS = ("overall level", "acceleration level", "high-frequency acceleration",
                "rotation 1x velocity", "rotation 2x velocity", "velocity 10-1000 Hz")
MIN_OFF_WINDOWS = 3  # fewer quiet windows than this are not a state
OFF_MIN_DROP_DB = 3.0  # the quiet cluster is this much quieter (median over levels), or it
#                        is another way of running
OFF_SEPARATION = 6.0  # the clusters' distance in their own spreads along the discriminant
OFF_BOUNDARY = 0.5  # position (0 off, 1 running) where a learning window is called off
OFF_ENTER, OFF_LEAVE = 0.4, 0.6  # hysteresis after learning: a running device stops below
#                                   OFF_ENTER, a stopped one runs again above OFF_LEAVE
STATE_SPREAD_FLOOR_DB = 0.5
# The room's loud hours (learn_states, sound only: the room is heard, not felt): the machine
# alone in a quiet room is a cluster of its own, at least this much under the loud one ...
ROOM_FEATURE = "overall level"
ROOM_OVER_MACHINE_DB = 6.0
ROOM_STEADIER = 0.5  # ... and steadier: its level's spread at most this share of the room's
MIN_MODE_WINDOWS = 10  # windows each of the two normals is fitted on, at least
CLUSTER_ITERATIONS = 20


@dataclass(frozen=True)
class Fit:
    """The static part of a device's normal, written once when learning ends."""

    names: tuple[str, ...]
    origin: np.ndarray  # learned centre
    scale: np.ndarray  # robust spread per feature
    precision: np.ndarray  # inverse shrunk correlation (D, D)
    median: float  # of the out-of-sample distances of the baseline windows
    sigma: float  # their robust spread
    running_level_db: float
    windows: int  # running windows the fit used
    off_state: OffState | None = None  # the device's stopped sound, if learning heard it
    features_version: int = FEATURES_VERSION  # of the feature definitions it was made with
    # The normal of the hours when the room is louder than the machine (learn_states), with
    # its own running_level_db: a window nearer that level is scored against it.
    room: Fit | None = None

    def to_json(self) -> dict:
        return {"names": list(self.names), "origin": self.origin.tolist(),
                "scale": self.scale.tolist(), "precision": self.precision.tolist(),
                "median": self.median, "sigma": self.sigma,
                "running_level_db": self.running_level_db, "windows": self.windows,
                "off_state": self.off_state.to_json() if self.off_state else None,
                "features_version": self.features_version,
                "room": self.room.to_json() if self.room else None}

    @classmethod
    def from_json(cls, doc: dict) -> Fit:
        return cls(tuple(doc["names"]), np.asarray(doc["origin"], np.float64),
                   np.asarray(doc["scale"], np.float64),
                   np.asarray(doc["precision"], np.float64), float(doc["median"]),
                   float(doc["sigma"]), float(doc["running_level_db"]), int(doc["windows"]),
                   OffState.from_json(doc.get("off_state")),
                   int(doc.get("features_version", 1)),  # fits stored before it: version 1
                   cls.from_json(doc["room"]) if doc.get("room") else None)


@dataclass(frozen=True)
class Assessment:
    score: float
    z: np.ndarray  # per feature, against the (drifted) centre


def _shape_features(names) -> list[int]:
    """The features whose broad drop says "stopped" rather than "changed": the band levels
    (audio) and the rotation line (vibration)."""
    return [i for i, name in enumerate(names)
            if (name.startswith("band ") and name.endswith(" level"))
            or name == "rotation 1x velocity"]


@lru_cache(maxsize=16)
def _line_features(names: tuple[str, ...]) -> list[int]:
    """The compressor's own lines among the features (LINE_FEATURES: sound only). Cached:
    the off test asks on every window, and a device's names are the same tuple each time.
    The list is shared: index with it, never change it."""
    return [i for i, name in enumerate(names) if name in LINE_FEATURES]


@lru_cache(maxsize=64)
def _hum_features(names: tuple[str, ...]) -> list[int]:
    """The motor's mains hum lines among the features (HUM_FEATURES; shared, as above)."""
    return [i for i, name in enumerate(names) if name in HUM_FEATURES]


def _state_features(names) -> list[int]:
    """What tells running from off: the levels (audio: each band and the whole; vibration:
    acceleration, high band, rotation lines, velocity), all in dB."""
    return [i for i, name in enumerate(names) if name in STATE_LEVELS
            or (name.startswith("band ") and name.endswith(" level"))]


def _quieter_everywhere(reference: np.ndarray, values: np.ndarray, shape: list[int]):
    """Median drop (dB) of the shape features against the running reference, per row."""
    if not shape:
        return np.zeros(np.atleast_2d(values).shape[0])
    return np.median(reference[shape] - np.atleast_2d(values)[:, shape], axis=1)


def _level_rule(levels: np.ndarray, vectors: np.ndarray | None, names,
                drop_db: float = OFF_DROP_DB) -> np.ndarray:
    """Which windows ran by the fixed rule: not `drop_db` below the level most of them
    reached, nor (given the vectors) QUIETER_DB below it with the spectrum quieter by as
    much across its bands."""
    running_level = float(np.percentile(levels, RUNNING_QUANTILE))
    running = levels > running_level - drop_db
    shape = _shape_features(names)
    if vectors is None or not shape or running.sum() < 2:
        return running
    reference = np.median(vectors[running], axis=0)
    quieter = (levels <= running_level - QUIETER_DB) & (
        _quieter_everywhere(reference, vectors, shape) >= QUIETER_DB)
    return running & ~quieter


@dataclass(frozen=True)
class OffState:
    """The sound of this device stopped, learned from its own learning windows: the centroid
    of their quiet cluster over the state features, and the direction (a diagonal Fisher
    discriminant) that best tells it from the running cluster. A window's position on the
    line from off (0) to running (1) decides; the running end is the drifting centre, so a
    slowly drifting machine is still told from its stop."""

    index: tuple[int, ...]
    off: np.ndarray
    weight: np.ndarray

    def position(self, running: np.ndarray, values: np.ndarray) -> np.ndarray:
        """0 at the off centroid, 1 at `running`, per row of values (full feature vectors)."""
        idx = list(self.index)
        return self.along(running[idx], np.atleast_2d(values)[:, idx])

    def along(self, running_x: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The same over the state features alone (`x`: rows of them)."""
        span = float((running_x - self.off) @ self.weight)
        return (x - self.off) @ self.weight / span

    def sounds_off(self, running: np.ndarray, values: np.ndarray, was_off: bool) -> bool:
        """Two tests: the position below the boundary (with hysteresis), and most of the
        state features as near the off sound (median distances). A running machine stops
        only when both say so: a fault that silences one band moves the position a long
        way, but the rest of the spectrum still sounds like running. A stopped one runs
        again only when both say so: a room event while it is off (a door, a voice) lifts a
        few bands and the position with them, but the rest still sounds stopped."""
        boundary = OFF_LEAVE if was_off else OFF_ENTER
        below = float(self.position(running, values)[0]) < boundary
        x = np.asarray(values, np.float64)[list(self.index)]
        # on the line from off to running, these distances are in the ratio p : 1 - p
        nearer = bool(np.median(np.abs(x - self.off)) * (1 - boundary)
                      < np.median(np.abs(x - running[list(self.index)])) * boundary)
        return (below or nearer) if was_off else (below and nearer)

    def to_json(self) -> dict:
        return {"index": list(self.index), "off": self.off.tolist(),
                "weight": self.weight.tolist()}

    @classmethod
    def from_json(cls, doc: dict | None) -> OffState | None:
        if not doc:
            return None
        return cls(tuple(int(i) for i in doc["index"]), np.asarray(doc["off"], np.float64),
                   np.asarray(doc["weight"], np.float64))


def _two_clusters(x: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """2-means over the state features, started from a split of the levels halfway between
    their 10th and 90th percentiles; True for the louder cluster."""
    low, high = np.percentile(levels, [10, 90])
    loud = levels > (low + high) / 2
    for _ in range(CLUSTER_ITERATIONS):
        if loud.all() or not loud.any():
            break
        a, b = x[loud].mean(axis=0), x[~loud].mean(axis=0)
        new = np.sum((x - a) ** 2, axis=1) < np.sum((x - b) ** 2, axis=1)
        if (new == loud).all():
            break
        loud = new
    return loud


class States(NamedTuple):
    """What the learning windows were: running (either mode), the device's stopped sound,
    and the windows of the room's loud hours (a second mode of the running windows)."""

    running: np.ndarray
    off_state: OffState | None = None
    room: np.ndarray | None = None


def _stop_split(x: np.ndarray, levels: np.ndarray, idx: list[int]
                ) -> tuple[np.ndarray, OffState] | None:
    """The windows' state features `x` as a stopped machine and a running one: True for the
    running (louder) cluster, and the stopped sound. None when they are not that: too few in
    a cluster, the quiet one not OFF_MIN_DROP_DB quieter across the levels (two ways of
    running), or the clusters not OFF_SEPARATION of their own spreads apart."""
    loud = _two_clusters(x, levels)
    if loud.sum() < MIN_OFF_WINDOWS or (~loud).sum() < MIN_OFF_WINDOWS:
        return None
    on_centre, off_centre = np.median(x[loud], axis=0), np.median(x[~loud], axis=0)
    if float(np.median(on_centre - off_centre)) < OFF_MIN_DROP_DB:
        return None  # two ways of running (loaded, unloaded), not a stop
    spread = np.sqrt(0.5 * (x[loud].var(axis=0) + x[~loud].var(axis=0)))
    weight = (on_centre - off_centre) / np.maximum(spread, STATE_SPREAD_FLOOR_DB) ** 2
    state = OffState(tuple(idx), off_centre, weight)
    p = state.along(on_centre, x)
    apart = MAD_TO_SIGMA * max(float(np.median(np.abs(p[loud] - np.median(p[loud])))),
                               float(np.median(np.abs(p[~loud] - np.median(p[~loud])))), 1e-9)
    if 1.0 / apart < OFF_SEPARATION:
        return None
    return p > OFF_BOUNDARY, state


def _spread(levels: np.ndarray) -> float:
    return MAD_TO_SIGMA * float(np.median(np.abs(levels - np.median(levels))))


def _machine_in_quiet_room(x: np.ndarray, levels: np.ndarray, loud: np.ndarray,
                           idx: list[int]) -> tuple[np.ndarray, OffState] | None:
    """Within the quiet cluster of a stop split, the machine running alone in a quiet room:
    the quiet cluster splits again into a stop and a running machine, that running machine
    is steadier than the loud cluster (a compressor alone is a steady source, a room in use
    is not: ROOM_STEADIER), and the loud cluster is ROOM_OVER_MACHINE_DB or more over it.
    The loud cluster is then the room's loud hours (a kitchen in service), in which the
    machine may run or not. The running machine's windows as a mask over all, its stop."""
    quiet = np.flatnonzero(~loud)
    inner = _stop_split(x[quiet], levels[quiet], idx)
    if inner is None:
        return None
    machine = np.zeros(len(levels), bool)
    machine[quiet[inner[0]]] = True
    if machine.sum() < MIN_MODE_WINDOWS or loud.sum() < MIN_MODE_WINDOWS:
        return None
    if float(np.median(levels[loud]) - np.median(levels[machine])) < ROOM_OVER_MACHINE_DB:
        return None
    # A louder stop (the room by day, the machine off) under a running machine splits the
    # same way, the other way round: there the loud cluster is the steady one.
    if _spread(levels[machine]) > ROOM_STEADIER * _spread(levels[loud]):
        return None
    return machine, inner[1]


def _lines_louder(vectors: np.ndarray, names, loud: np.ndarray, machine: np.ndarray) -> bool:
    """Whether the compressor's lines (LINE_FEATURES) stand LINES_GONE_DB or more higher in
    the loud cluster than in the quiet one's steady source (median over the lines of the
    clusters' medians): then the loud windows are the compressor running and the steady
    source a stop with something else going (a pump), not the machine alone in a quiet room
    (brewcellar's blind device-weeks, round 10)."""
    lines = _line_features(tuple(names))
    if not lines:
        return False
    gap = np.median(vectors[loud][:, lines], axis=0) - np.median(vectors[machine][:, lines],
                                                                  axis=0)
    return float(np.median(gap)) >= LINES_GONE_DB


def learn_states(vectors: np.ndarray | None, levels: np.ndarray, names) -> States:
    """Which learning windows ran, the off state if they hold one (no labels: two clusters
    of the state features, accepted as on/off only if the quiet one is clearly apart,
    OFF_SEPARATION of their own spreads along the discriminant, and quieter by
    OFF_MIN_DROP_DB or more across the levels; otherwise the fixed level rule decides), and,
    for sound, the room's loud hours when the quiet cluster holds the machine running alone
    (_machine_in_quiet_room): then the off state is the stop within the quiet cluster."""
    rule = _level_rule(levels, vectors, names)
    idx = _state_features(names)
    if vectors is None or len(idx) == 0 or len(levels) < 2 * MIN_OFF_WINDOWS:
        return States(rule)
    x = vectors[:, idx]
    split = _stop_split(x, levels, idx)
    if split is None:
        return States(rule)
    running, state = split
    room = _machine_in_quiet_room(x, levels, running, idx) if ROOM_FEATURE in names else None
    if room is not None and _lines_louder(vectors, names, running, room[0]):
        room = None  # the loud hours are the compressor running, the "machine" a stop
    if room is not None:
        machine, state = room
        return States(running | machine, state, running)
    return States(_level_rule(levels, None, names, HARD_OFF_DROP_DB) & running, state)


def running_mask(levels: np.ndarray, vectors: np.ndarray | None = None, names=()) -> np.ndarray:
    """Which learning windows ran (learn_states)."""
    return learn_states(vectors, levels, names).running if vectors is not None else \
        _level_rule(levels, None, names)


def _centre_scale(vectors: np.ndarray, floors: np.ndarray, std_share: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The median and the robust spread, at least `std_share` of the plain standard
    deviation: a feature with two ways of being normal (a tone there half the day) has a MAD
    of one of them, and the other would be flagged for ever."""
    centre = np.median(vectors, axis=0)
    scale = MAD_TO_SIGMA * np.median(np.abs(vectors - centre), axis=0)
    return centre, np.maximum(np.maximum(scale, std_share * vectors.std(axis=0)), floors)


def _precision(z: np.ndarray) -> np.ndarray:
    n, d = z.shape
    clipped = np.clip(z, -Z_CLIP, Z_CLIP)
    centred = clipped - clipped.mean(axis=0)
    std = np.maximum(centred.std(axis=0), 1e-6)
    corr = (centred / std).T @ (centred / std) / max(n, 1)
    shrink = max(MIN_SHRINK, d / (d + n))
    shrunk = (1 - shrink) * corr + shrink * np.eye(d)
    return np.linalg.inv(shrunk)


def distance(z: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """Mahalanobis distance per row of z (rows: windows), per feature: comparable across D."""
    z = np.atleast_2d(z)
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", z, precision, z), 0.0) / z.shape[1])


def _out_of_sample(vectors: np.ndarray, floors: np.ndarray, std_share: float) -> np.ndarray:
    """Each window's distance under a fit made without it (5 folds)."""
    n = vectors.shape[0]
    folds = np.arange(n) % min(FOLDS, n)
    out = np.empty(n)
    for fold in np.unique(folds):
        held, kept = folds == fold, folds != fold
        if kept.sum() < 2:
            kept = np.ones(n, bool)
        centre, scale = _centre_scale(vectors[kept], floors, std_share)
        precision = _precision((vectors[kept] - centre) / scale)
        out[held] = distance(np.clip((vectors[held] - centre) / scale, -SCORE_Z_CLIP,
                                     SCORE_Z_CLIP), precision)
    return out


def _fit_once(names, vectors, floors, running_level, threshold, off_state=None,
              std_share: float = STD_SHARE) -> tuple[Fit, np.ndarray]:
    centre, scale = _centre_scale(vectors, floors, std_share)
    precision = _precision((vectors - centre) / scale)
    held_out = _out_of_sample(vectors, floors, std_share)
    median = float(np.median(held_out))
    sigma = max(MAD_TO_SIGMA * float(np.median(np.abs(held_out - median))), CALIBRATION_FLOOR)
    fit = Fit(tuple(names), centre, scale, precision, median, sigma, running_level,
              vectors.shape[0], off_state)
    return fit, (held_out - median) / sigma <= threshold


def _robust_fit(names, vectors, levels, floors, needed, threshold, off_state) -> Fit:
    running_level = float(np.median(levels))
    # Bad windows are looked for with the robust spreads alone (a plain deviation would
    # grow with them and hide them), then the fit is made on what stays.
    _, inliers = _fit_once(names, vectors, floors, running_level, threshold, off_state, 0.0)
    kept = vectors
    if inliers.sum() >= max(needed // 2, 3) and (~inliers).sum() <= FEW_BAD_SHARE * len(inliers):
        kept = vectors[inliers]
    return _fit_once(names, kept, floors, running_level, threshold, off_state)[0]


def fit(names, vectors: np.ndarray, levels: np.ndarray, floors: np.ndarray, needed: int,
        threshold: float) -> Fit | None:
    """The device's normal from its learning windows, or None while fewer than `needed` of
    them ran (off windows do not count); with the room's loud hours (learn_states), the
    machine's normal from its quiet hours and the room's apart."""
    states = learn_states(vectors, levels, names)
    if states.running.sum() < needed:
        return None
    if states.room is None:
        return _robust_fit(names, vectors[states.running], levels[states.running], floors,
                           needed, threshold, states.off_state)
    machine = states.running & ~states.room
    room = _robust_fit(names, vectors[states.room], levels[states.room], floors,
                       int(states.room.sum()), threshold, None)
    alone = _robust_fit(names, vectors[machine], levels[machine], floors, int(machine.sum()),
                        threshold, states.off_state)
    return replace(alone, room=room)


def normal_for(fit: Fit, level_db: float) -> Fit:
    """The normal a window is scored against: the room's when its level is nearer the room's
    loud hours than the machine's quiet ones (in dB, halfway), else the machine's."""
    if fit.room is not None and level_db > 0.5 * (fit.running_level_db
                                                   + fit.room.running_level_db):
        return fit.room
    return fit


def assess(fit: Fit, centre: np.ndarray, values: np.ndarray) -> Assessment:
    z = np.clip((values - centre) / fit.scale, -SCORE_Z_CLIP, SCORE_Z_CLIP)
    d = float(distance(z, fit.precision)[0])
    return Assessment((d - fit.median) / fit.sigma, z)


def is_off(fit: Fit, level_db: float, values: np.ndarray | None = None,
           centre: ArrayLike | None = None, was_off: bool = False) -> bool:
    """The machine is stopped. Whatever else: the compressor is heard stopped (stop_heard).
    With a learned off state: the window is nearer the device's stopped sound than its
    running sound (the drifting `centre`), with hysteresis around the midpoint (`was_off`:
    the previous window was off), or HARD_OFF_DROP_DB quieter than it runs. Without one:
    OFF_DROP_DB quieter, or QUIETER_DB quieter and quieter everywhere (energy and spectral
    shape: a fault changes the shape, a stop lowers all of it)."""
    drop = fit.running_level_db - level_db
    if stop_heard(fit, level_db, values, centre) is not None:
        return True
    if fit.off_state is not None and values is not None:
        if drop >= HARD_OFF_DROP_DB:
            return True
        running = fit.origin if centre is None else np.asarray(centre, np.float64)
        return fit.off_state.sounds_off(running, values, was_off)
    if drop >= OFF_DROP_DB:
        return True
    if values is None:
        return False
    if drop < QUIETER_DB:
        return False
    shape = _shape_features(fit.names)
    return bool(shape) and float(_quieter_everywhere(fit.origin, values, shape)[0]) >= QUIETER_DB


def stop_heard(fit: Fit, level_db: float, values: np.ndarray | None,
               centre: ArrayLike | None = None) -> str | None:
    """What says the compressor is stopped whatever the rest of the window sounds like, for
    its `why`: its lines gone (lines_gone_db), or the motor's mains hum (hum_gone_db). None
    when neither does."""
    lines = lines_gone_db(fit, values, centre)
    if lines is not None:
        return f"the compressor's lines {lines:.0f} dB under theirs"
    hum = hum_gone_db(fit, level_db, values, centre)
    if hum is not None:
        return f"the motor's mains hum {hum:.0f} dB under its own"
    return None


def lines_gone_db(fit: Fit, values: np.ndarray | None, centre: ArrayLike | None = None
                  ) -> float | None:
    """How far the compressor's lines (LINE_FEATURES) are under the running `centre` (the
    learned one if None), median over them, dB, when that is LINES_GONE_DB or more: the
    compressor is stopped. None otherwise, and for features without the lines."""
    lines = _line_features(fit.names)
    if not lines or values is None:
        return None
    running = fit.origin if centre is None else np.asarray(centre, np.float64)
    values = np.asarray(values, np.float64)
    drop = float(np.median(running[lines] - values[lines]))
    if drop >= LINES_GONE_DB:
        return drop
    hum = _hum_features(fit.names)
    if drop >= LINES_WITH_HUM_GONE_DB and hum and float(
            np.max(running[hum] - values[hum])) >= HUM_GONE_DB:
        return drop
    return None


def hum_gone_db(fit: Fit, level_db: float, values: np.ndarray | None,
                centre: ArrayLike | None = None) -> float | None:
    """How far the motor's mains hum (HUM_FEATURES) is under the running `centre` (the
    learned one if None), the largest drop among its lines that is HUM_ALONE_DB or more and
    HUM_ALONE_SIGMAS of the line's learned spread, in a window HUM_QUIETER_DB or more
    quieter than running: the motor is stopped. None otherwise."""
    hum = _hum_features(fit.names)
    if not hum or values is None or fit.running_level_db - level_db < HUM_QUIETER_DB:
        return None
    running = fit.origin if centre is None else np.asarray(centre, np.float64)
    drop = running[hum] - np.asarray(values, np.float64)[hum]
    gone = (drop >= HUM_ALONE_DB) & (drop >= HUM_ALONE_SIGMAS * fit.scale[hum])
    return float(drop[gone].max()) if gone.any() else None


def follow(fit: Fit, centre: np.ndarray, values: np.ndarray, rate: float,
           cap_sigmas: float) -> np.ndarray:
    """The centre moved towards a normal window, never beyond the cap."""
    moved = centre + rate * (values - centre)
    reach = cap_sigmas * fit.scale
    return np.clip(moved, fit.origin - reach, fit.origin + reach)
