"""The analysis of one window, as a queue worker runs it.

`Analyser.handle(window_id)` is the Huey task body. It never raises: it returns
None when the window is finished with (a result stored or handed to the result
writer, or given up to the dead-letter list) and a delay in seconds when a
transient failure should be retried. Permanent failures (the window cannot be
decoded, the model does not fit the features, a feature is not finite) go to the
dead-letter list at once: inf or NaN never reaches a baseline, score or threshold.

The worker computes the window's condition features (and for audio the model's
score, one of them); the published score is judged against the device's learned
normal inside the result's transaction (verdict.py, via WindowJudge).

Each worker thread has its own interpreter and its own store connection. A
worker hands the computed outcome to the `ResultWriter` and goes on at once; the
writer commits many windows' results per transaction and owns what follows: the
wake-ups after the COMMIT, and the retry or dead letter of a result it could not
save. Nothing comes back here.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from gateway.inference.attempts import RetryPolicy, failed_attempt
from gateway.inference.audio_features import WindowFeatures
from gateway.inference.features import FeatureError, severe_text, window_dtype
from gateway.inference.model import PIECE_S, ModelError
from gateway.inference.result_writer import PendingResult, ResultWriter
from gateway.inference.results import Outcome, ResultStore, StoredWindow
from gateway.inference.verdict import (
    DeviceMemory,
    Observation,
    Verdict,
    VerdictRules,
    judge,
    needs_vectors,
    takes_for_learning,
)
from gateway.inference.vibration_features import Kinematics, vibration_analysis
from gateway.logs import kv
from gateway.store.segments import RawUnreadable
from gateway.vibration_json import axis_length, axis_pieces, split_axes
from gateway.wav import WavError, WavInfo, decode_frames, inspect_wav, piece_bounds

log = logging.getLogger("gateway.inference")
STANDARD_GRAVITY = 9.80665
CONDITION_FEATURES = "condition@4"  # the feature set: a new one learns every normal afresh
VIBRATION_MODEL = f"iso10816-velocity@1+{CONDITION_FEATURES}"
SEVERE_ZONES = ("C", "D")  # ISO 10816: alert whatever the baseline says
# Without a loadable audio model (no TFLite runtime, a broken one) a worker tries again this
# often; meanwhile audio windows wait unanalysed, vibration goes on.
MODEL_RETRY_S = 60.0
_JSON = json.JSONDecoder()  # as json.loads reads


class AudioScorer(Protocol):
    @property
    def name_version(self) -> str: ...

    def score_window(self, pieces: Iterable[np.ndarray], sample_rate: float,
                     check: Callable[[float], None]): ...


class PermanentError(Exception):
    """This window can never be analysed as it is; retrying will not help."""


class ModelUnavailable(Exception):
    """No audio model is loaded: a transient failure, never a reason to dead-letter."""


class AnalysisTimeout(Exception):
    """The analysis ran over its time limit."""


PERMANENT = (PermanentError, WavError, FeatureError, ModelError, RawUnreadable)


__all__ = ["Analyser", "RetryPolicy"]


class Analyser:
    """The task body; every computed outcome goes to `writer`."""

    def __init__(self, store_path: Path, make_audio_model: Callable[[], AudioScorer],
                 rules: VerdictRules, retry: RetryPolicy, time_limit_s: float,
                 writer: ResultWriter):
        self.store_path = store_path
        self.make_audio_model = make_audio_model
        self.rules, self.retry, self.time_limit_s = rules, retry, time_limit_s
        self.writer = writer
        self._running: dict[int, float] = {}  # thread id -> monotonic start of its analysis
        self._local = threading.local()
        self._stores: list[ResultStore] = []  # every worker's, to be closed on stop
        self._stores_lock = threading.Lock()

    def prepare_worker(self) -> None:
        """Load and warm this thread's interpreter before the first window arrives."""
        self._resources()

    def _resources(self) -> tuple[ResultStore, AudioScorer | None]:
        local = self._local
        if not hasattr(local, "store"):
            store = ResultStore(self.store_path)
            with self._stores_lock:
                self._stores.append(store)
            local.store, local.model, local.model_tried = store, None, -MODEL_RETRY_S
            local.model_failed = False
        if local.model is None and time.monotonic() - local.model_tried >= MODEL_RETRY_S:
            local.model_tried = time.monotonic()
            try:
                local.model = self.make_audio_model()
            except Exception as e:  # the runtime is missing or broken: audio waits
                # said once per worker; the retries every minute only at debug level
                (log.debug if local.model_failed else log.error)(
                    "audio model unavailable; audio windows wait, vibration goes on",
                    extra=kv(error=str(e)[:300], retry_in_s=MODEL_RETRY_S))
                local.model_failed = True
        return local.store, local.model

    def close(self) -> None:
        """Close every worker's store connection (after the workers stopped): an open one
        keeps the WAL from being checkpointed, and its NORMAL-sync commits unsynced."""
        with self._stores_lock:
            stores, self._stores = self._stores, []
        for store in stores:
            try:
                store.close()
            except Exception as e:
                log.warning("closing a worker's store failed", extra=kv(error=repr(e)))

    def oldest_running_s(self) -> float:
        """How long the longest analysis now running has taken: a worker stuck far past the
        time limit (a hung interpreter cannot be interrupted) must stop the watchdog."""
        starts = list(self._running.values())
        return time.monotonic() - min(starts) if starts else 0.0

    def handle(self, window_id: int) -> float | None:
        me = threading.get_ident()
        self._running[me] = time.monotonic()
        try:
            return self._handle(window_id)
        finally:
            del self._running[me]

    def _handle(self, window_id: int) -> float | None:
        try:
            store, model = self._resources()
        except Exception as e:  # store locked or unreadable: try later
            log.error("cannot start analysis; retrying",
                      extra=kv(window_id=window_id, error=repr(e)))
            return self.retry.delay(1)
        if model is None and store.stream_of(window_id) == "audio":
            return None  # unanalysed, not claimed: the sweep queues it again for later
        try:
            claim = store.claim(window_id)
        except Exception as e:
            log.error("cannot start analysis; retrying",
                      extra=kv(window_id=window_id, error=repr(e)))
            return self.retry.delay(1)
        if claim is None:
            log.warning("window not in the store; nothing to analyse",
                        extra=kv(window_id=window_id))
            return None
        if claim.state != "trying":
            return None  # analysed or given up already: a duplicate task
        if claim.attempts > self.retry.max_attempts:
            store.dead_letter(window_id, "analysis never finished (the process died or hung "
                              "during it)", claim.attempts - 1)
            log.error("window given up: analysis never finished",
                      extra=kv(window_id=window_id, attempts=claim.attempts - 1))
            return None
        return self._attempt(store, model, window_id, claim.attempts)

    def _attempt(self, store: ResultStore, model: AudioScorer | None, window_id: int,
                 attempt: int) -> float | None:
        started = time.monotonic()
        try:
            window = store.load_window(window_id)
            samples = _decoded(window)
            # The window goes on without its payload: a vibration window's stored JSON (4 MiB
            # at most) is not held beside its array through the analysis.
            window = window._replace(payload=None)
            outcome = self._analyse(window, samples, model, started)
        except PERMANENT as e:
            store.dead_letter(window_id, f"{type(e).__name__}: {e}", attempt)
            log.error("window cannot be analysed; moved to the dead-letter list",
                      extra=kv(window_id=window_id, error=str(e)))
            return None
        except Exception as e:
            return failed_attempt(store, self.retry, window_id, attempt, e)
        # Committed with others by the writer, which reports and retries from there on.
        self.writer.submit(PendingResult(
            window=window, outcome=outcome,
            judge=WindowJudge(replace(outcome.observation, ts_ms=window.captured_at_ms),
                              outcome.model, self.rules),
            attempt=attempt, seconds=time.monotonic() - started))
        return None

    def _analyse(self, window: StoredWindow, samples: Samples, model: AudioScorer | None,
                 started: float) -> Outcome:
        if isinstance(samples, Vibration):
            outcome = vibration_outcome(samples, self.rules.machines.get(window.device_id))
        elif model is None:  # lost since the claim was checked: try again later
            raise ModelUnavailable("the audio model is not loaded")
        else:
            outcome = audio_outcome(samples, model, partial(self._check_time, started))
        elapsed = time.monotonic() - started
        if elapsed > self.time_limit_s:
            raise AnalysisTimeout(f"took {elapsed:.1f} s, limit {self.time_limit_s:g} s")
        outcome.details["analysis_ms"] = round(elapsed * 1000, 3)
        outcome.details["window_id"] = window.id
        return outcome


    def _check_time(self, started: float, analysed_s: float) -> None:
        """Between the pieces of a long window: stop at the limit, not minutes after it."""
        elapsed = time.monotonic() - started
        if elapsed > self.time_limit_s:
            raise AnalysisTimeout(f"stopped after {elapsed:.1f} s, limit {self.time_limit_s:g} "
                                  f"s, with {analysed_s:.1f} s of the window analysed")


class WindowJudge:
    """judge() for one window, as the store calls it inside the result's transaction; tells
    the store when the device's learning vectors must be loaded (a fit may be due)."""

    def __init__(self, observation: Observation, model: str, rules: VerdictRules):
        self.observation, self.model, self.rules = observation, model, rules

    def __call__(self, memory: DeviceMemory) -> Verdict:
        return judge(memory, self.observation, self.model, self.rules)

    def needs_vectors(self, memory: DeviceMemory) -> bool:
        return needs_vectors(memory, self.rules) and takes_for_learning(
            memory, self.observation, self.rules)


def _finite_features(features: WindowFeatures) -> WindowFeatures:
    if not (np.isfinite(features.values).all() and np.isfinite(features.level_db)):
        bad = [n for n, v in zip(features.names, features.values, strict=True)
               if not np.isfinite(v)]
        raise FeatureError(f"features are not finite: {', '.join(bad[:5]) or 'level'}")
    return features


def _finite(details: dict) -> dict:
    """Refuse a window whose figures are not finite: inf/NaN must never reach a baseline."""
    for key, value in details.items():
        if isinstance(value, float) and not np.isfinite(value):
            raise FeatureError(f"analysis gave a non-finite {key}")
    return details


def _pieces(payload: bytes, info: WavInfo) -> Iterator[np.ndarray]:
    """The window's samples a piece of PIECE_S (to twice that) at a time, each decoded only
    when the analysis reaches it: never the whole window as floats."""
    for start, stop in piece_bounds(info.frames, int(PIECE_S * info.sample_rate)):
        yield decode_frames(payload, info, start, stop)


def audio_outcome(payload: bytes, model: AudioScorer,
                   check: Callable[[float], None]) -> Outcome:
    info = inspect_wav(payload)
    scored = model.score_window(_pieces(payload, info), info.sample_rate, check)
    if scored.condition is None:
        raise ModelError("the audio scorer gave no condition features")
    details = _finite({**scored.details, "model_score": float(scored.score),
                       "features_ms": round(scored.features_ms, 3),
                       "model_ms": round(scored.model_ms, 3)})
    details.update(scored.condition.context, level_db=round(scored.condition.level_db, 2))
    return Outcome(model=f"{model.name_version}+{CONDITION_FEATURES}",
                   observation=Observation(_finite_features(scored.condition)), details=details)


class Vibration(NamedTuple):
    """A vibration window decoded: its (3, n) samples in m/s² and their rate."""

    xyz: np.ndarray
    rate: float


Samples = Vibration | bytes  # what the analysis reads: decoded vibration, or the audio's WAV


def _decoded(window: StoredWindow) -> Samples:
    """The samples of a loaded window: a vibration window decoded at once (so its payload
    can go), an audio window's WAV as stored (decoded a piece at a time by the analysis)."""
    if window.payload is None:
        raise PermanentError("the raw data was deleted (retention) before analysis")
    if window.stream == "audio":
        return window.payload
    return Vibration(*decode_vibration(window.payload))


def vibration_outcome(window: Vibration, kinematics: Kinematics | None = None) -> Outcome:
    # centres and scales the window's array in place: the caller gives it up
    kinematics = kinematics or Kinematics()
    severity, condition = vibration_analysis(window.xyz, window.rate, kinematics)
    details = _finite(severity.as_dict())
    details.update(condition.context, level_db=round(condition.level_db, 2),
                   iso_class=kinematics.iso_class)
    severe = ""
    if severity.iso_zone in SEVERE_ZONES:
        severe = severe_text(severity.iso_zone, kinematics.iso_class,
                             severity.rms_velocity_mm_s)
    return Outcome(model=VIBRATION_MODEL,
                   observation=Observation(_finite_features(condition), severe),
                   details=details)


def decode_vibration(payload: bytes) -> tuple[np.ndarray, float]:
    """decode_window as float64 if its float32 window would overflow (|x| > 3.4e38: intake
    refuses far less, but a window stored before that bound must read as it always did)."""
    with np.errstate(over="ignore"):  # a float32 overflow gives inf, caught just below
        xyz, rate = decode_window(payload)
    if xyz.dtype != np.float64 and not np.isfinite(xyz).all():
        xyz, rate = decode_window(payload, np.float64)
    return xyz, rate


def decode_window(payload: bytes, dtype: type[np.floating] | None = None
                  ) -> tuple[np.ndarray, float]:
    """The stored vibration JSON (validated at intake) as a (3, n) array in m/s² of
    features.window_dtype (float32 for a window analysed in segments): its axes read one by
    one into the array, never as lists of Python numbers (17-67 MB for a 4 MiB message),
    unless the message is not in the plain form (vibration_json)."""
    try:
        plain = split_axes(payload, _JSON, accepted=True)
        if plain is None:
            doc = json.loads(payload)
            xyz = np.array([doc["x"], doc["y"], doc["z"]],
                           dtype=dtype or window_dtype(len(doc["x"])))
        else:
            doc = plain.doc
            xyz = _axes_array(payload, [plain.spans[name] for name in ("x", "y", "z")], dtype)
        rate = float(doc["sample_rate"])
    except (ValueError, KeyError, TypeError) as e:
        raise PermanentError(f"vibration payload unreadable: {e}") from e
    if doc.get("unit", "m/s2") == "g":
        xyz *= STANDARD_GRAVITY
    return xyz, rate


def _axes_array(payload: bytes, spans: list[tuple[int, int]],
                dtype: type[np.floating] | None) -> np.ndarray:
    """The axes as rows of one array, each read into its row a piece at a time."""
    frames = axis_length(payload, spans[0])
    xyz = np.empty((len(spans), frames), dtype or window_dtype(frames))
    for row, span in enumerate(spans):
        at = 0
        for piece in axis_pieces(payload, span):
            xyz[row, at:at + piece.size] = piece  # ValueError when an axis is longer
            at += piece.size
        if at != frames:
            raise ValueError(f"axis {row} has {at} samples, the first {frames}")
    return xyz
