"""Train the shipped audio anomaly model (dev only: needs TensorFlow, never the gateway).

A dense autoencoder over log-mel context vectors, in the spirit of the DCASE 2020 task 2
baseline, trained only on normal sound of many synthetic compressors (gateway.devtools.synth), with
features computed by the gateway's own code (gateway.inference.features). It writes
``<out>.tflite`` and its card ``<out>.json``. The exact commands are in docs/inference.md:

    python3 -m venv /tmp/tf-venv && /tmp/tf-venv/bin/pip install tensorflow-cpu numpy
    PYTHONPATH=. /tmp/tf-venv/bin/python tools/train_model.py

``--test-fixtures tests/fixtures`` writes instead the tiny models the tests use.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gateway.devtools import synth  # noqa: E402
from gateway.inference.features import MelParams, audio_vectors  # noqa: E402

log = logging.getLogger("train_model")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "gateway" / "inference" / "models" / "compressor_ae"
TRAIN_SEED = 0  # gateway.devtools.synth profile seed of the training devices; bench/ uses others
# Sensor boxes send 16 kHz, 44.1 kHz and 48 kHz; training sees the resampler's effect too.
SOURCE_RATES = (16000, 16000, 16000, 44100, 48000)
LAYERS = (128, 128, 128, 8, 128, 128, 128)  # hidden widths; the input width comes from params
STD_FLOOR_DB = 1.0  # a nearly constant input band must not dominate the error

SCORE_DEFINITION = (
    "Per vector x (320 log-mel dB values): c = x - mean(x) (removes the overall level), "
    "z = (c - m) / s (per value, m and s from the training vectors), r = (AE(z) - z) / q (q: "
    "per value, the autoencoder's usual residual on training data); vector score = mean(r^2), "
    "all inside the model. Window score: the mean over the window's vectors. Normal training "
    "vectors: median {median:.3f}, 99th percentile {p99:.3f}; higher = less like a normal "
    "compressor. Levels differ between devices: compare with the device's own baseline.")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output path without suffix (default: the shipped model)")
    parser.add_argument("--name", default="compressor_ae")
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--devices", type=int, default=300, help="training device profiles")
    parser.add_argument("--windows", type=int, default=12, help="1 s windows per device")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1234, help="numpy and TensorFlow seed")
    parser.add_argument("--test-fixtures", type=Path, metavar="DIR",
                        help="write the tests' tiny models into DIR and stop")
    return parser.parse_args(argv)


def training_window(profile: synth.CompressorProfile,
                    rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """One normal window: running most of the time, sometimes off, at a box's sample rate."""
    rate = int(rng.choice(SOURCE_RATES))
    audio = synth.audio_window(profile, duration_s=1.0, sample_rate=rate,
                               t0_s=float(rng.uniform(0, 3600)), running=rng.random() < 0.8,
                               rng=rng)
    return audio, rate


def training_vectors(params: MelParams, devices: int, windows: int, seed: int) -> np.ndarray:
    """Context vectors of normal sound from `devices` profiles, exactly as the gateway sees it."""
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(devices):
        profile = synth.profile_for(f"train-{i:04d}", seed=TRAIN_SEED)
        for _ in range(windows):
            parts.append(audio_vectors(*training_window(profile, rng), params))
    return np.concatenate(parts).astype(np.float32)


def build_autoencoder(width: int) -> tf.keras.Model:
    inputs = tf.keras.Input(shape=(width,))
    x = inputs
    for units in LAYERS:
        x = tf.keras.layers.Dense(units, activation="relu")(x)
    outputs = tf.keras.layers.Dense(width)(x)
    return tf.keras.Model(inputs, outputs)


class Scaling(NamedTuple):
    """The fixed arithmetic around the autoencoder, built into the exported graph."""

    mean: np.ndarray  # per input value, of the level-centred training vectors
    std: np.ndarray  # likewise, floored at STD_FLOOR_DB
    residual_std: np.ndarray  # per value, of the trained autoencoder's training residual

    def standardise(self, vectors: np.ndarray) -> np.ndarray:
        # Without its own mean each vector is independent of microphone gain and distance.
        centred = vectors - vectors.mean(axis=1, keepdims=True)
        return (centred - self.mean) / self.std


def train(vectors: np.ndarray, epochs: int, seed: int) -> tuple[tf.keras.Model, Scaling]:
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    centred = vectors - vectors.mean(axis=1, keepdims=True)
    scaling = Scaling(centred.mean(axis=0), np.maximum(centred.std(axis=0), STD_FLOOR_DB), None)
    standard = scaling.standardise(vectors)
    model = build_autoencoder(vectors.shape[1])
    model.compile(optimizer=tf.keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(standard, standard, batch_size=512, epochs=epochs, shuffle=True,
              validation_split=0.1, verbose=2)
    residual = model.predict(standard, batch_size=4096, verbose=0) - standard
    # Weighting each value by its usual residual lets small changes in bands the autoencoder
    # predicts well (the narrow high-frequency ones) count as much as noisy low bands.
    scaling = scaling._replace(residual_std=np.maximum(residual.std(axis=0), 1e-3))
    return model, Scaling(*(a.astype(np.float32) for a in scaling))


def vector_errors(model: tf.keras.Model, vectors: np.ndarray, scaling: Scaling) -> np.ndarray:
    standard = scaling.standardise(vectors)
    residual = model.predict(standard, batch_size=4096, verbose=0) - standard
    return np.mean((residual / scaling.residual_std) ** 2, axis=1)


def _frozen_forward(model: tf.keras.Model):
    """The autoencoder as a function of constants: the converter would otherwise keep the
    Keras weights as uninitialised resource variables."""
    weights = [tf.constant(w) for w in model.get_weights()]
    pairs = list(zip(weights[::2], weights[1::2], strict=True))

    def forward(x):
        for i, (kernel, bias) in enumerate(pairs):
            x = tf.matmul(x, kernel) + bias
            if i < len(pairs) - 1:
                x = tf.nn.relu(x)
        return x

    return forward


def convert(function) -> bytes:
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function()])
    return converter.convert()


def export_tflite(model: tf.keras.Model, scaling: Scaling) -> bytes:
    """A float32 .tflite taking raw log-mel vectors [any batch, width] and giving one anomaly
    value per vector [batch]: all of Scaling's arithmetic is in the graph."""
    forward = _frozen_forward(model)
    width = scaling.mean.size

    @tf.function(input_signature=[tf.TensorSpec([None, width], tf.float32, name="logmel")])
    def vector_error(x):
        centred = x - tf.reduce_mean(x, axis=1, keepdims=True)
        standard = (centred - scaling.mean) / scaling.std
        residual = (forward(standard) - standard) / scaling.residual_std
        return tf.reduce_mean(tf.square(residual), axis=1)

    return convert(vector_error)


def write_model(out: Path, content: bytes, card: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".tflite").write_bytes(content)
    card = {**card, "sha256": hashlib.sha256(content).hexdigest()}
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s.tflite (%d bytes) and its card", out, len(content))


def card_for(args: argparse.Namespace, params: MelParams, score_definition: str,
             training_data: str) -> dict:
    return {"name": args.name, "version": args.version, "sha256": "",
            "features": asdict(params), "input_shape": [-1, params.vector_size],
            "output_shape": [-1], "score_kind": "vector_error",
            "score_definition": score_definition, "training_data": training_data}


def _fixture(shape: list, function) -> tf.types.experimental.GenericFunction:
    return tf.function(function, input_signature=[tf.TensorSpec(shape, tf.float32, "logmel")])


def write_test_fixtures(args: argparse.Namespace) -> None:
    """Tiny weight-free models for tests/unit/test_model.py, each with a card for the default
    features (5 x 64 = 320 values per vector):
    wrong_shape: takes 256 values although its card promises 320;
    fixed_batch: a fixed batch of 3 whose "error" is each vector's mean (checks chunking);
    half_reconstruction: any batch, "reconstructs" x as x / 2 (checks score_kind reconstruction).
    """
    params = MelParams()
    width = params.vector_size
    base = card_for(args, params, "test fixture", "none: a test fixture")
    fixtures = {
        "wrong_shape": (_fixture([None, 256], lambda x: tf.reduce_mean(x, axis=1)), {}),
        "fixed_batch": (_fixture([3, width], lambda x: tf.reduce_mean(x, axis=1)),
                        {"input_shape": [3, width], "output_shape": [3]}),
        "half_reconstruction": (_fixture([None, width], lambda x: x * 0.5),
                                {"output_shape": [-1, width], "score_kind": "reconstruction"}),
    }
    for name, (function, changes) in fixtures.items():
        write_model(args.test_fixtures / name, convert(function), {**base, "name": name,
                                                                   **changes})


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    if args.test_fixtures:
        write_test_fixtures(args)
        return 0
    params = MelParams()
    vectors = training_vectors(params, args.devices, args.windows, args.seed)
    log.info("training on %d vectors of %d values", *vectors.shape)
    model, scaling = train(vectors, args.epochs, args.seed)
    training_data = (
        f"Normal sound only: gateway.devtools.synth profiles "
        f"'train-0000'..'train-{args.devices - 1:04d}' "
        f"(profile seed {TRAIN_SEED}), {args.windows} one-second windows each, 80 % running and "
        f"20 % compressor off, sample rates {sorted(set(SOURCE_RATES))} Hz resampled to "
        f"{params.sample_rate} Hz; {vectors.shape[0]} vectors; seed {args.seed}, "
        f"{args.epochs} epochs, Adam 1e-3, batch 512, MSE on level-centred standardised "
        "vectors.")
    errors = vector_errors(model, vectors, scaling)
    definition = SCORE_DEFINITION.format(median=np.median(errors), p99=np.percentile(errors, 99))
    card = card_for(args, params, definition, training_data)
    write_model(args.out, export_tflite(model, scaling), card)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
