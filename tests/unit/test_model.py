"""The shipped model and the scorer: loads with LiteRT, scores faults above normal sound, and
refuses every model that does not fit its card with one clear ModelError.

The tiny models in tests/fixtures/ were written by
``PYTHONPATH=. /tmp/tf-venv/bin/python tools/train_model.py --test-fixtures tests/fixtures``
(see docs/inference.md); their cards say what each one is for.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gateway.devtools import synth
from gateway.inference.features import MelParams, audio_vectors
from gateway.inference.model import (
    AudioModel,
    FeatureError,
    ModelError,
    load_model_card,
    make_interpreter,
    shipped_model_path,
)
from gateway.wav import decode_wav, encode_wav

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHIPPED = shipped_model_path()
HELD_OUT_SEED = 99  # a profile seed neither training (0) nor bench/detection.py (7) uses


@pytest.fixture(scope="module")
def model() -> AudioModel:
    return AudioModel(shipped_model_path())


def copy_model(tmp_path: Path, source: Path = SHIPPED) -> Path:
    target = tmp_path / source.name
    shutil.copy(source, target)
    shutil.copy(source.with_suffix(".json"), target.with_suffix(".json"))
    return target


def edit_card(tflite: Path, **changes) -> None:
    card_file = tflite.with_suffix(".json")
    card = json.loads(card_file.read_text())
    card.update(changes)
    card_file.write_text(json.dumps(card))


def test_shipped_model_and_card(model):
    path = shipped_model_path()
    card = load_model_card(path)
    assert card.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card.features == MelParams()
    assert card.input_shape == (-1, 320) and card.score_kind == "vector_error"
    assert model.name_version == f"{card.name}@{card.version}"
    assert path.stat().st_size < 1_000_000


def window_score(model: AudioModel, profile, seed: int, **kwargs) -> float:
    audio = synth.audio_window(profile, rng=np.random.default_rng(seed), **kwargs)
    return model.score(audio, 16000).score


def test_faults_score_above_normal_sound_of_an_unseen_device(model):
    profile = synth.profile_for("model-test-box", seed=HELD_OUT_SEED)
    normal = [window_score(model, profile, seed) for seed in range(4)]
    for fault in synth.FAULT_KINDS:
        faulty = [window_score(model, profile, seed, fault=fault, severity=1.0)
                  for seed in range(2)]
        assert min(faulty) > max(normal), fault


def test_score_takes_decoded_wav_at_any_rate_and_length(model):
    profile = synth.profile_for("model-test-box", seed=HELD_OUT_SEED)
    first = None
    for rate, seconds, channels in [(16000, 1.0, 1), (48000, 0.25, 2), (44100, 10.0, 1),
                                    (16000, 1.0, 1)]:
        audio = synth.audio_window(profile, duration_s=seconds, sample_rate=rate,
                                   rng=np.random.default_rng(1))
        samples, decoded_rate = decode_wav(encode_wav(np.tile(audio[:, None], channels), rate))
        result = model.score(samples, decoded_rate)
        assert np.isfinite(result.score) and result.score > 0
        assert result.features_ms >= 0 and result.model_ms >= 0
        assert json.loads(json.dumps(result.details)) == result.details
        assert result.details["vectors"] == audio_vectors(samples, rate, MelParams()).shape[0]
        first = first or result.score
    assert result.score == pytest.approx(first, rel=1e-6)  # the same window after resizing


def test_too_short_audio_is_a_feature_error(model):
    with pytest.raises(FeatureError, match="at least"):
        model.score(np.zeros(1600, np.float32), 16000)


def test_fixed_batch_models_see_every_vector_once():
    # fixed_batch takes exactly 3 vectors and gives each one's mean: 28 vectors need 10 calls,
    # the last padded; the score must be the plain mean over the 28.
    scorer = AudioModel(FIXTURES / "fixed_batch.tflite")
    audio = synth.audio_window(synth.profile_for("box"), rng=np.random.default_rng(2))
    vectors = audio_vectors(audio, 16000, MelParams())
    assert vectors.shape[0] % 3
    result = scorer.score(audio, 16000)
    assert result.score == pytest.approx(float(vectors.mean(dtype=np.float64)), rel=1e-5)
    assert result.details["max_vector_score"] == pytest.approx(vectors.mean(axis=1).max())


def test_reconstruction_models_are_scored_by_squared_error():
    scorer = AudioModel(FIXTURES / "half_reconstruction.tflite")  # "reconstructs" x as x / 2
    audio = synth.audio_window(synth.profile_for("box"), rng=np.random.default_rng(3))
    vectors = audio_vectors(audio, 16000, MelParams()).astype(np.float64)
    expected = np.mean(np.mean((vectors / 2) ** 2, axis=1))
    assert scorer.score(audio, 16000).score == pytest.approx(expected, rel=1e-5)


def test_wrong_input_shape_is_refused_naming_both_shapes():
    with pytest.raises(ModelError, match=r"wrong shape.*\[-1, 320\].*\[-1, 256\]"):
        AudioModel(FIXTURES / "wrong_shape.tflite")


def test_card_that_does_not_describe_the_model_is_refused(tmp_path):
    path = copy_model(tmp_path, FIXTURES / "fixed_batch.tflite")
    edit_card(path, input_shape=[-1, 320], output_shape=[-1])
    with pytest.raises(ModelError, match=r"wrong shape.*model has input \[3, 320\]"):
        AudioModel(path)


def test_tampered_model_is_refused(tmp_path):
    path = copy_model(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256 .* does not match the card"):
        AudioModel(path)


def test_missing_model_and_missing_card(tmp_path):
    with pytest.raises(ModelError, match="model file missing"):
        AudioModel(tmp_path / "nothing.tflite")
    path = copy_model(tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="model card missing"):
        AudioModel(path)


@pytest.mark.parametrize("changes, message", [
    ({"colour": "red"}, r"has unknown fields \['colour'\]; see"),
    ({"features": {"sample_rate": "16000"}}, "not valid mel parameters"),
    ({"features": [16000]}, "'features' must be an object"),
    ({"features": {**MelParams().__dict__, "fmax": 9000.0}}, "not valid mel parameters"),
    ({"features": {**MelParams().__dict__, "n_mels": 32}}, r"does not fit the card's features"),
    ({"score_kind": "magic"}, "score_kind 'magic'"),
    ({"input_shape": "320"}, "list of integers"),
])
def test_bad_cards_are_refused(tmp_path, changes, message):
    path = copy_model(tmp_path)
    edit_card(path, **changes)
    with pytest.raises(ModelError, match=message):
        AudioModel(path)


def test_a_file_that_is_not_tflite_is_refused(tmp_path):
    path = copy_model(tmp_path)
    path.write_bytes(b"not a model at all")
    edit_card(path, sha256=hashlib.sha256(b"not a model at all").hexdigest())
    with pytest.raises(ModelError, match="not a loadable TFLite model"):
        AudioModel(path)


def test_runtime_fallback_order():
    path = FIXTURES / "half_reconstruction.tflite"
    # LiteRT missing: the next runtime in the list is used.
    scorer = AudioModel(path, module_names=("no_such_litert.interpreter",
                                            "ai_edge_litert.interpreter"))
    assert scorer.name_version == "half_reconstruction@1.0.0"
    with pytest.raises(ModelError, match="no_such_litert.*no_such_tflite_runtime.*pip install"):
        make_interpreter(path, module_names=("no_such_litert.interpreter",
                                             "no_such_tflite_runtime.interpreter"))


def test_card_missing_a_field_is_refused(tmp_path):
    path = copy_model(tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    del card["training_data"]
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"missing fields \['training_data'\]"):
        load_model_card(path)


def test_loading_the_model_writes_nothing_on_stderr(tmp_path):
    # Issue 13.10: LiteRT printed "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." on
    # file descriptor 2 at every interpreter load (7 of 92 journal lines; atop doctor's output).
    script = ("from gateway.inference.model import AudioModel, shipped_model_path;"
              "AudioModel(shipped_model_path()); AudioModel(shipped_model_path()); print('ok')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    assert result.stderr == ""


def test_audio_too_loud_for_float32_power_is_a_feature_error(model):
    # A float32 WAV may hold 3e38: its power is inf in float32; it must not become a score.
    loud = np.full(16000, 3e38, np.float32) * np.sign(np.sin(np.arange(16000) / 5))
    with pytest.raises(FeatureError, match="far beyond full scale"):
        model.score(loud.astype(np.float32), 16000)


def test_the_score_carries_finite_condition_features_and_the_model_score(model):
    profile = synth.profile_for("model-test-box", seed=HELD_OUT_SEED)
    audio = synth.audio_window(profile, duration_s=1.0, rng=np.random.default_rng(2))
    result = model.score(audio, 16000)
    condition = result.condition
    assert len(condition.names) == len(set(condition.names)) == condition.values.size
    assert np.isfinite(condition.values).all()
    assert condition.names[-1] == "autoencoder score"
    assert condition.values[-1] == pytest.approx(np.log(result.score))
    assert 10 <= condition.context["rotation_hz"] <= 70
