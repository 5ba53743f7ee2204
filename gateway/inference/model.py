"""The audio anomaly model: a .tflite file, its model card, and the scorer a worker thread uses.

A model is two files side by side, ``<name>.tflite`` and ``<name>.json`` (the card). The card
names the feature parameters the model was trained on and the sha256 of the .tflite; a model
whose bytes, tensor shapes or card do not agree is refused with a :class:`ModelError` when it is
loaded, so a bad replacement never scores garbage (the daemon runs on without audio analysis
and says so: service/degraded.py).
docs/inference.md describes the card and how to ship a replacement.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gateway.inference.audio_features import (
    FLOOR_LOG,
    MAX_SEGMENTS,
    SEGMENT_S,
    WindowFeatures,
    combined_condition,
)
from gateway.inference.features import (
    FeatureError,
    MelParams,
    context_vectors,
    log_mel,
    resample,
    to_mono,
)
from gateway.logs import kv

__all__ = ["AudioModel", "AudioScore", "FeatureError", "ModelCard", "ModelError",
           "load_model_card", "make_interpreter", "shipped_model_path"]

INTERPRETER_MODULES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter")
SCORE_KINDS = ("vector_error", "reconstruction")
# Full scale is 1.0; a float WAV may hold anything. Far above this, float32 spectra overflow.
MAX_AMPLITUDE = 1e6
# A long window is analysed in pieces of this many seconds (the last one up to twice that):
# memory stays that of a few seconds whatever the window's length, and the time limit is
# checked between pieces. A window shorter than two pieces is analysed whole, as always.
PIECE_S = 2.0
SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "compressor_ae.tflite"


log = logging.getLogger("gateway.model")
_STDERR_LOCK = threading.Lock()


@contextmanager
def native_stderr_to_log() -> Iterator[None]:
    """Catch what native code writes to file descriptor 2 and log it instead: LiteRT prints
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on every interpreter's first
    allocation, and nothing foreign may reach the journal's stderr (or doctor's output)."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as caught:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode(errors="replace").splitlines():
                if line.strip():
                    log.debug("tflite runtime said", extra=kv(said=line.strip()[:300]))


class ModelError(Exception):
    """The model cannot be used as it is: says which file, what is wrong and what to do."""


@dataclass(frozen=True)
class ModelCard:
    """What the gateway must know about a model, read from ``<name>.json`` beside it.

    score_kind "vector_error": the model outputs one anomaly value per input vector
    (shape [batch] or [batch, 1]); "reconstruction": it outputs its reconstruction of the input
    and the gateway computes the squared error. Either way the window's score is the mean over
    its vectors. A batch size of -1 means any batch (the gateway resizes the input).
    """

    name: str
    version: str
    sha256: str
    features: MelParams
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    score_kind: str
    score_definition: str
    training_data: str

    @property
    def name_version(self) -> str:
        return f"{self.name}@{self.version}"


def shipped_model_path() -> Path:
    """The model installed with the package (used when ``[inference] model`` is empty)."""
    return SHIPPED_MODEL


def card_path(tflite_path: Path) -> Path:
    return Path(tflite_path).with_suffix(".json")


def _card_fields(doc: object, path: Path) -> dict:
    """The card's JSON object with each field checked for presence and type."""
    if not isinstance(doc, dict):
        raise ModelError(f"{path}: model card is not a JSON object; see docs/inference.md")
    expected = {f.name for f in fields(ModelCard)}
    unknown, missing = sorted(set(doc) - expected), sorted(expected - set(doc))
    if unknown or missing:
        problems = ([f"unknown fields {unknown}"] if unknown else []) + (
            [f"missing fields {missing}"] if missing else [])
        raise ModelError(f"{path}: model card has {' and '.join(problems)}; see the card format "
                         "in docs/inference.md")
    for key in ("name", "version", "sha256", "score_kind", "score_definition", "training_data"):
        if not isinstance(doc[key], str) or not doc[key]:
            raise ModelError(f"{path}: model card field {key!r} must be a non-empty string")
    for key in ("input_shape", "output_shape"):
        shape = doc[key]
        if not isinstance(shape, list) or not all(type(d) is int for d in shape):
            raise ModelError(f"{path}: model card field {key!r} must be a list of integers")
    if doc["score_kind"] not in SCORE_KINDS:
        raise ModelError(f"{path}: score_kind {doc['score_kind']!r} is not one of {SCORE_KINDS}")
    return doc


def _card_features(raw: object, path: Path) -> MelParams:
    if not isinstance(raw, dict):
        raise ModelError(f"{path}: model card 'features' must be an object")
    try:
        return MelParams(**raw)
    except (TypeError, ValueError) as e:
        raise ModelError(f"{path}: model card 'features' are not valid mel parameters: {e}") from e


def load_model_card(tflite_path: Path) -> ModelCard:
    """Read and check the card beside a .tflite file; ModelError names what is wrong."""
    path = card_path(tflite_path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: model card missing; every model needs its card beside it "
                         "(same name, .json)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: model card unreadable: {e}") from e
    doc = _card_fields(doc, path)
    card = ModelCard(**{**doc, "features": _card_features(doc["features"], path),
                        "input_shape": tuple(doc["input_shape"]),
                        "output_shape": tuple(doc["output_shape"])})
    wanted = card.features.vector_size
    if len(card.input_shape) != 2 or card.input_shape[1] != wanted:
        raise ModelError(f"{path}: input_shape {list(card.input_shape)} does not fit the card's "
                         f"features ({card.features.context_frames} frames x "
                         f"{card.features.n_mels} mels = [batch, {wanted}])")
    return card


def make_interpreter(path: Path, content: bytes | None = None,
                     module_names: tuple[str, ...] = INTERPRETER_MODULES):
    """A TFLite interpreter from the first importable runtime in module_names (LiteRT, then
    the older tflite_runtime), running on one thread: each worker thread has its own."""
    tried = []
    for name in module_names:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            tried.append(f"{name} ({e})")
            continue
        try:
            if content is None:
                return module.Interpreter(model_path=str(path), num_threads=1)
            return module.Interpreter(model_content=content, num_threads=1)
        except (ValueError, RuntimeError) as e:
            raise ModelError(f"{path}: not a loadable TFLite model ({e}); check the file "
                             "or replace it") from e
    raise ModelError(f"{path}: no TFLite runtime importable, tried {'; '.join(tried)}; install "
                     "ai-edge-litert (pip install ai-edge-litert)")


def _read_model(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: model file missing; point [inference] model at an existing "
                         ".tflite, or leave it empty for the shipped model") from None
    except OSError as e:
        raise ModelError(f"{path}: model file unreadable: {e}") from e


def _verify_sha256(path: Path, content: bytes, sha256: str) -> None:
    """Prove the bytes are the ones the card describes."""
    actual = hashlib.sha256(content).hexdigest()
    if actual != sha256.lower():
        raise ModelError(f"{path}: sha256 {actual} does not match the card's {sha256}; the file "
                         "is damaged or the card belongs to another model: copy both again")


class _Tensors(NamedTuple):
    input_index: int
    output_index: int
    batch: int  # -1: any batch, the input is resized to each window's vector count


def _signature(detail: dict) -> list[int]:
    return [int(d) for d in detail.get("shape_signature", detail["shape"])]


def _check_tensors(interpreter, card: ModelCard, path: Path) -> _Tensors:
    """Refuse a model whose tensors do not take the card's features or give its score."""
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{path}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                         "the gateway feeds one input and reads one output")
    got_in, got_out = _signature(inputs[0]), _signature(outputs[0])
    want_in, want_out = list(card.input_shape), list(card.output_shape)
    if got_in != want_in or got_out != want_out:
        raise ModelError(f"{path}: wrong shape: the card and its features expect input {want_in} "
                         f"and output {want_out}, the model has input {got_in} and output "
                         f"{got_out}; export the model for these features or fix the card")
    kind_fits = (got_out in ([got_in[0]], [got_in[0], 1]) if card.score_kind == "vector_error"
                 else got_out == got_in)
    if not kind_fits:
        raise ModelError(f"{path}: wrong shape: output {got_out} does not fit score_kind "
                         f"{card.score_kind!r} for input {got_in} (see docs/inference.md)")
    for detail in (inputs[0], outputs[0]):
        if np.dtype(detail["dtype"]) != np.float32:
            raise ModelError(f"{path}: tensor {detail['name']!r} is {np.dtype(detail['dtype'])}, "
                             "the gateway feeds and reads float32")
    return _Tensors(inputs[0]["index"], outputs[0]["index"], got_in[0])


class AudioScore(NamedTuple):
    score: float  # mean anomaly value over the window's vectors (higher = more unusual)
    features_ms: float
    model_ms: float
    details: dict  # small and JSON-able: vectors, mean_db, max_vector_score
    # The condition features (audio_features.py) with the model's score as one more feature.
    condition: WindowFeatures | None = None


def _model_rate_audio(samples: np.ndarray, sample_rate: float, params: MelParams):
    """Mono at the model rate, its log-mel frames and context vectors; FeatureError if the
    window is too short or not finite (float32 WAVs can hold 1e38: their power is inf)."""
    mono = to_mono(samples)
    if not np.isfinite(mono).all():
        raise FeatureError("audio samples contain NaN or Inf")
    peak = float(np.max(np.abs(mono))) if mono.size else 0.0
    if peak > MAX_AMPLITUDE:
        raise FeatureError(f"audio samples reach {peak:.3g}, far beyond full scale (1.0): "
                           "their power would not be finite in float32")
    at_rate = resample(mono, sample_rate, params.sample_rate)
    if at_rate.size < params.min_samples():
        raise FeatureError(
            f"audio is {mono.size / sample_rate:.3f} s long; the model needs at least "
            f"{params.min_samples() / params.sample_rate:.3f} s for one "
            f"{params.context_frames}-frame vector")
    logmel = log_mel(at_rate, params)
    if not np.isfinite(logmel).all():
        raise FeatureError("audio too loud to analyse: its spectrum is not finite")
    return at_rate, logmel, context_vectors(logmel, params.context_frames)


class _Window:
    """What a window analysed piece by piece keeps of each piece: the first seconds at the
    model rate (the tonal and envelope analysis), the log-mel frames and vector scores (small:
    32 frames a second), and sums for the level and the vectors' mean."""

    def __init__(self, params: MelParams):
        self.params = params
        self.head_size = MAX_SEGMENTS * int(SEGMENT_S * params.sample_rate)
        self.heads: list[np.ndarray] = []
        self.logmels: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []
        self.vector_means: list[tuple[float, int]] = []
        self.samples, self.sum_squares = 0, 0.0
        self.features_s = self.model_s = 0.0

    def add(self, at_rate, logmel, vectors, scores, features_s: float, model_s: float) -> None:
        # the first piece (a window in one piece): exactly what audio_condition checks
        if not self.samples and at_rate.size < 0.2 * self.params.sample_rate:
            raise FeatureError(f"audio of {at_rate.size} samples is too short for condition "
                               "features")
        started = time.perf_counter()
        y = at_rate.astype(np.float64)
        kept = sum(h.size for h in self.heads)
        if kept < self.head_size:
            self.heads.append(y[: self.head_size - kept])
        self.sum_squares += float(np.sum(y**2))
        self.samples += y.size
        self.logmels.append(logmel)
        self.scores.append(scores)
        self.vector_means.append((float(vectors.mean()), vectors.size))
        self.features_s += features_s + time.perf_counter() - started
        self.model_s += model_s

    def condition(self) -> WindowFeatures:
        one = len(self.heads) == 1
        head = self.heads[0] if one else np.concatenate(self.heads)
        logmel = self.logmels[0] if len(self.logmels) == 1 else np.concatenate(self.logmels)
        return combined_condition(head, logmel, self.sum_squares, self.samples, self.params)

    def score(self) -> float:
        return float(np.concatenate(self.scores).mean())

    def details(self) -> dict:
        scores = np.concatenate(self.scores)
        if len(self.vector_means) == 1:
            mean_db = self.vector_means[0][0]
        else:
            total = sum(n for _, n in self.vector_means)
            mean_db = sum(m * n for m, n in self.vector_means) / total
        return {"vectors": int(scores.size), "mean_db": round(mean_db, 2),
                "max_vector_score": float(scores.max())}


def _with_model_score(condition: WindowFeatures, score: float) -> WindowFeatures:
    """The autoencoder's opinion as one more feature (log: its scale is multiplicative)."""
    return WindowFeatures(condition.names + ("autoencoder score",),
                          np.append(condition.values, np.log(max(score, 1e-6))),
                          np.append(condition.floors, FLOOR_LOG), condition.units + ("log",),
                          condition.level_db, condition.context)


class AudioModel:
    """One model, ready to score windows. Not thread-safe: one per worker thread."""

    def __init__(self, tflite_path: Path, module_names: tuple[str, ...] = INTERPRETER_MODULES):
        self.path = Path(tflite_path)
        content = _read_model(self.path)
        self.card = load_model_card(self.path)
        _verify_sha256(self.path, content, self.card.sha256)
        self._interpreter = make_interpreter(self.path, content, module_names)
        self._tensors = _check_tensors(self._interpreter, self.card, self.path)
        self._allocated = 0  # batch size the interpreter's tensors are sized for
        params = self.card.features
        per_second = 1 + params.sample_rate // params.hop_length - params.context_frames + 1
        with native_stderr_to_log():  # the first allocation applies the delegate, and says so
            self._vector_scores(np.zeros((per_second, params.vector_size), np.float32))

    @property
    def name_version(self) -> str:
        return self.card.name_version

    def score(self, samples: np.ndarray, sample_rate: float) -> AudioScore:
        """Score a decoded window: float32 (frames,) or (frames, channels) at any rate.
        FeatureError if it cannot be analysed (too short, not finite)."""
        return self.score_window([samples], sample_rate)

    def score_window(self, pieces: Iterable[np.ndarray], sample_rate: float,
                     check: Callable[[float], None] = lambda analysed_s: None) -> AudioScore:
        """Score a window given as consecutive pieces of decoded samples (see score), each
        analysed on its own so memory is bounded by the piece, not the window; after each
        piece `check(seconds analysed so far)` may raise to stop (the time limit). How the
        pieces' figures combine: docs/inference.md, "Long windows"."""
        params = self.card.features
        whole = _Window(params)
        for piece in pieces:
            started = time.perf_counter()
            at_rate, logmel, vectors = _model_rate_audio(piece, sample_rate, params)
            featured = time.perf_counter()
            scores = self._vector_scores(vectors)
            whole.add(at_rate, logmel, vectors, scores, featured - started,
                      time.perf_counter() - featured)
            check(whole.samples / params.sample_rate)
        started = time.perf_counter()
        condition = whole.condition()
        whole.features_s += time.perf_counter() - started
        score = whole.score()
        return AudioScore(score, whole.features_s * 1000, whole.model_s * 1000, whole.details(),
                          _with_model_score(condition, score))

    def _vector_scores(self, vectors: np.ndarray) -> np.ndarray:
        """One anomaly value per vector, in as few invocations as the model's batch allows."""
        batch = self._tensors.batch
        if batch == -1:
            return self._invoke(vectors)
        rows = vectors.shape[0]
        padded = np.resize(vectors, (-(-rows // batch) * batch, vectors.shape[1]))  # repeats
        chunks = [self._invoke(padded[i : i + batch]) for i in range(0, padded.shape[0], batch)]
        return np.concatenate(chunks)[:rows]

    def _invoke(self, vectors: np.ndarray) -> np.ndarray:
        interpreter, tensors = self._interpreter, self._tensors
        if tensors.batch == -1 and vectors.shape[0] != self._allocated:
            interpreter.resize_tensor_input(tensors.input_index, list(vectors.shape))
            interpreter.allocate_tensors()
        elif not self._allocated:
            interpreter.allocate_tensors()
        self._allocated = vectors.shape[0]
        interpreter.set_tensor(tensors.input_index, np.ascontiguousarray(vectors, np.float32))
        interpreter.invoke()
        output = interpreter.get_tensor(tensors.output_index)
        if self.card.score_kind == "reconstruction":
            output = np.mean((output - vectors) ** 2, axis=1)
        output = output.reshape(vectors.shape[0])
        if not np.isfinite(output).all():
            raise ModelError(f"{self.path}: the model produced NaN or Inf scores; it is broken "
                             "for this input: replace it")
        return output.astype(np.float64)
