"""The whole analysis on real sound: the shipped model, the condition features, the verdict.

The normal is learned from healthy windows only, so every fault kind is one the detector has
never seen. Development figures (docs/inference.md) come from a script outside the suite;
these tests pin that it still holds on a few devices.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gateway.devtools import synth
from gateway.inference.features import vibration_features
from gateway.inference.model import AudioModel, shipped_model_path
from gateway.inference.verdict import DeviceMemory, Observation, VerdictRules, judge
from gateway.inference.vibration_features import vibration_condition

RULES = VerdictRules(baseline_windows=100, threshold_sigmas=6.0, alert_after=3, alert_window=5)
DEVICES = ("held-out-1", "held-out-2")


@pytest.fixture(scope="module")
def model():
    return AudioModel(shipped_model_path())


def _audio(model, profile, index, **kwargs) -> Observation:
    kind = (None, *synth.FAULT_KINDS).index(kwargs.get("fault"))
    rng = np.random.default_rng([index, len(profile.device_id), kind])
    samples = synth.audio_window(profile, duration_s=1.0, sample_rate=16_000, t0_s=float(index),
                                 rng=rng, **kwargs)
    return Observation(model.score(samples[:, None], 16_000).condition)


def _learn(observations) -> DeviceMemory:
    memory, vectors = DeviceMemory(model="m"), []
    for observation in observations:
        if len(memory.levels) + 1 >= RULES.baseline_windows and memory.fit is None:
            memory = dataclasses.replace(memory, vectors=tuple(vectors))
        verdict = judge(memory, observation, "m", RULES)
        if verdict.learned is not None:
            vectors.append(verdict.learned)
        memory = verdict.memory
    assert memory.fit is not None
    return memory


def _verdicts(memory, observations):
    out = []
    for observation in observations:
        verdict = judge(memory, observation, "m", RULES)
        memory = verdict.memory
        out.append(verdict)
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_fault_kinds_never_seen_are_flagged_and_healthy_sound_is_not(model, device):
    profile = synth.profile_for(device, seed=3)
    # One window in five with the compressor off, as on a duty cycle.
    memory = _learn([_audio(model, profile, i, running=i % 5 != 0) for i in range(125)])
    healthy = _verdicts(memory, [_audio(model, profile, 200 + i) for i in range(40)])
    assert sum(v.anomaly for v in healthy) <= 1 and not any(v.alert for v in healthy)
    off = _verdicts(memory, [_audio(model, profile, 300 + i, running=False) for i in range(5)])
    assert all(v.details["state"] == "off" and v.anomaly is False for v in off)
    for fault in synth.FAULT_KINDS:
        faulty = _verdicts(memory, [_audio(model, profile, 400 + i, fault=fault, severity=0.5)
                                    for i in range(8)])
        flagged = sum(v.anomaly for v in faulty)
        assert flagged >= 7, f"{fault}: {flagged} of 8 flagged"
        assert any(v.alert == "anomaly" for v in faulty[:4]), fault
        assert faulty[-1].details["why"], fault


def test_vibration_bearing_impacts_are_flagged_while_iso_velocity_stays_in_zone_a_or_b():
    profile = synth.profile_for("vib-held-out", seed=3)

    def observe(index, **kwargs):
        rng = np.random.default_rng([index, 7])
        xyz = synth.vibration_window(profile, duration_s=1.0, sample_rate=3200, rng=rng,
                                     t0_s=float(index), **kwargs)
        severity = vibration_features(xyz, 3200)
        return severity, Observation(vibration_condition(xyz, 3200, severity))

    memory = _learn([observe(i)[1] for i in range(100)])
    healthy = _verdicts(memory, [observe(200 + i)[1] for i in range(40)])
    assert sum(v.anomaly for v in healthy) <= 1
    faulty = [observe(300 + i, fault="bearing", severity=0.1) for i in range(5)]
    assert all(severity.iso_zone in ("A", "B") for severity, _ in faulty)
    verdicts = _verdicts(memory, [o for _, o in faulty])
    assert all(v.anomaly for v in verdicts)
    assert "kurtosis" in verdicts[-1].details["why"] or "envelope" in verdicts[-1].details["why"]
