"""Synthetic refrigeration compressors: the one generator for model training and the demo boxes.

A device id always maps to the same :class:`CompressorProfile` (its motor speed, mains
frequency, housing resonance, noise colour, gain...), so a simulated box sounds the same every
run, and a model trained on some ids can be checked on others. Every random draw comes from
the generator the caller passes, so a seeded run is reproducible.

Units: audio is float32 in [-1, 1] (full scale), vibration is acceleration in m/s^2 as a MEMS
accelerometer reports it (z includes gravity). Telemetry keeps the existing boxes' format and
magnitudes; its units are not documented by the firmware, so the ones assumed here are noted
at :func:`telemetry`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

FAULT_KINDS = ("bearing", "leak", "rattle", "imbalance", "hum")
GRAVITY = 9.80665
N_HARMONICS = 8


@dataclass(frozen=True)
class CompressorProfile:
    """What makes one compressor sound and shake like itself."""

    device_id: str
    mains_hz: float  # 50 or 60
    rotation_hz: float  # 4-pole motor: half the mains frequency less 2-5 % slip
    cylinders: int  # compression strokes per revolution
    harmonics: tuple[float, ...]  # audio amplitude of the 1x..8x rotation lines (full scale)
    phases: tuple[float, ...]  # their phases, fixed so consecutive windows join up
    pulse_depth: float  # how much the strokes modulate the flow noise, 0..1
    flow_level: float  # RMS of the refrigerant flow noise
    flow_tilt_db: float  # its slope in dB per octave: the noise colour
    resonance_hz: float  # housing resonance lifting the noise around it
    resonance_gain: float  # how high it lifts (linear amplitude factor)
    hum_level: float  # normal magnetostriction hum at 2 x mains
    background_level: float  # room noise, there even when the compressor is off
    gain: float  # microphone sensitivity and distance
    bearing_ratio: float  # outer-race defect frequency over rotation frequency
    bearing_ring_hz: float  # where bearing impacts ring in the audio
    velocity_mm_s: float  # healthy vibration velocity RMS of the main axis
    axis_weights: tuple[float, float, float]  # x, y, z share of the vibration
    setpoint_c: float  # cabinet temperature
    power: float  # nominal power draw (telemetry units)


def _device_rng(device_id: str, seed: int) -> np.random.Generator:
    # hashlib, not hash(): Python salts str hashes per process.
    digest = hashlib.sha256(f"{seed}/{device_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def profile_for(device_id: str, seed: int = 0) -> CompressorProfile:
    """The profile of one device: the same id and seed always give the same compressor."""
    r = _device_rng(device_id, seed)
    mains = float(r.choice([50.0, 60.0]))
    decay = r.uniform(0.35, 0.8)  # how fast the harmonic lines fall off
    first = r.uniform(0.01, 0.03)
    harmonics = tuple(float(first * decay**k * r.uniform(0.5, 1.5)) for k in range(N_HARMONICS))
    return CompressorProfile(
        device_id=device_id, mains_hz=mains, rotation_hz=mains / 2 * (1 - r.uniform(0.02, 0.05)),
        cylinders=int(r.integers(1, 3)), harmonics=harmonics,
        phases=tuple(float(p) for p in r.uniform(0, 2 * np.pi, N_HARMONICS)),
        pulse_depth=r.uniform(0.2, 0.6), flow_level=r.uniform(0.02, 0.05),
        flow_tilt_db=r.uniform(-6.0, -2.0), resonance_hz=r.uniform(800.0, 3000.0),
        resonance_gain=r.uniform(1.0, 4.0), hum_level=r.uniform(0.001, 0.006),
        background_level=r.uniform(0.001, 0.004), gain=r.uniform(0.4, 1.2),
        bearing_ratio=r.uniform(3.0, 5.4), bearing_ring_hz=r.uniform(3500.0, 6500.0),
        velocity_mm_s=r.uniform(0.5, 1.3),
        axis_weights=(1.0, float(r.uniform(0.6, 0.95)), float(r.uniform(0.3, 0.6))),
        setpoint_c=float(r.choice([-20.0, -18.0, 2.0, 4.0])) + r.uniform(-1, 1),
        power=r.uniform(30.0, 80.0),
    )


def _shaped_noise(rng: np.random.Generator, n: int, sample_rate: float, shape) -> np.ndarray:
    """White noise coloured by shape(frequencies) in the frequency domain, scaled to unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    hz = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum *= shape(hz)
    out = np.fft.irfft(spectrum, n)
    rms = np.sqrt(np.mean(out**2))
    return out / rms if rms > 0 else out


def _band(low: float, high: float):
    """A smooth band-pass shape (raised-cosine edges a fifth of the band wide)."""
    edge = (high - low) / 5

    def shape(hz: np.ndarray) -> np.ndarray:
        rise = np.clip((hz - low + edge) / edge, 0, 1)
        fall = np.clip((high + edge - hz) / edge, 0, 1)
        return np.sin(np.pi / 2 * rise) ** 2 * np.sin(np.pi / 2 * fall) ** 2

    return shape


def _flow_shape(profile: CompressorProfile):
    def shape(hz: np.ndarray) -> np.ndarray:
        octaves = np.log2(np.maximum(hz, 20.0) / 1000.0)
        tilt = 10 ** (profile.flow_tilt_db * octaves / 20)
        peak = profile.resonance_gain / (1 + ((hz - profile.resonance_hz) / 250.0) ** 2)
        return tilt * (1 + peak) * (hz > 30)

    return shape


def _since_last(t: np.ndarray, rate_hz: float) -> np.ndarray:
    """Seconds since the last event of a regular train at rate_hz (events at k / rate_hz)."""
    return np.mod(t * rate_hz, 1.0) / rate_hz


def _running_sound(profile: CompressorProfile, t: np.ndarray, sample_rate: float,
                   rng: np.random.Generator) -> np.ndarray:
    """A healthy running compressor: rotation lines, stroke-modulated flow noise, hum."""
    lines = np.zeros_like(t)
    for k, (amp, phase) in enumerate(zip(profile.harmonics, profile.phases, strict=True), 1):
        lines += amp * rng.uniform(0.85, 1.15) * np.sin(2 * np.pi * k * profile.rotation_hz * t
                                                        + phase)
    strokes = _since_last(t, profile.rotation_hz * profile.cylinders)
    envelope = 1 + profile.pulse_depth * (np.exp(-strokes / 0.006) - 0.2)
    flow = _shaped_noise(rng, t.size, sample_rate, _flow_shape(profile))
    flow *= profile.flow_level * rng.uniform(0.9, 1.1) * envelope
    hum = profile.hum_level * np.sin(2 * np.pi * 2 * profile.mains_hz * t)
    return lines + flow + hum


def _rings(rng: np.random.Generator, t: np.ndarray, sample_rate: float, per_second: float,
           ring_hz: tuple[float, float], decay_s: tuple[float, float]) -> np.ndarray:
    """Irregular impacts (a loose part): Poisson times, each a decaying ring of random pitch and
    strength, scaled so the expected RMS is 1 whatever the count in this window."""
    out = np.zeros_like(t)
    count = rng.poisson(per_second * t.size / sample_rate)
    length = int(0.05 * sample_rate)
    tail = np.arange(length) / sample_rate
    for start in rng.integers(0, t.size, count):
        ring = np.exp(-tail / rng.uniform(*decay_s)) * np.sin(
            2 * np.pi * rng.uniform(*ring_hz) * tail)
        end = min(t.size, start + length)
        out[start:end] += rng.lognormal(0.0, 0.5) * ring[: end - start]
    # E[strength^2] = e^0.5 for lognormal(0, 0.5); a ring of decay d carries d/4 of energy.
    expected_power = per_second * np.exp(0.5) * np.mean(decay_s) / 4
    return out / np.sqrt(expected_power)


def _unit_rms(signal: np.ndarray) -> np.ndarray:
    rms = np.sqrt(np.mean(signal**2))
    return signal / rms if rms > 0 else signal


def _bearing_sound(profile: CompressorProfile, t: np.ndarray, sample_rate: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Outer-race impacts at the defect rate ringing the bearing, stronger in the load zone."""
    defect_hz = profile.bearing_ratio * profile.rotation_hz
    load_zone = 1 + 0.5 * np.cos(2 * np.pi * profile.rotation_hz * t)
    ring_hz = min(profile.bearing_ring_hz, 0.4 * sample_rate)
    impacts = np.exp(-_since_last(t, defect_hz) / 0.0015) * np.sin(2 * np.pi * ring_hz * t)
    return _unit_rms(load_zone * impacts)


def _leak_sound(profile: CompressorProfile, t: np.ndarray, sample_rate: float,
                rng: np.random.Generator) -> np.ndarray:
    """Refrigerant hiss: band-limited high-frequency noise, slowly fluctuating."""
    band = _band(3500.0, min(7500.0, 0.45 * sample_rate))
    hiss = _shaped_noise(rng, t.size, sample_rate, band)
    return _unit_rms(hiss * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t)))


def _rattle_sound(profile: CompressorProfile, t: np.ndarray, sample_rate: float,
                  rng: np.random.Generator) -> np.ndarray:
    return _rings(rng, t, sample_rate, 12.0, (900.0, min(3000.0, 0.4 * sample_rate)),
                  (0.003, 0.008))


def _imbalance_sound(profile: CompressorProfile, t: np.ndarray, sample_rate: float,
                     rng: np.random.Generator) -> np.ndarray:
    """A strong 1x line; the shaking casing also radiates 2x and wobbles once per revolution."""
    turn = 2 * np.pi * profile.rotation_hz * t
    wobble = _shaped_noise(rng, t.size, sample_rate, _band(200.0, 1200.0))
    return _unit_rms(np.sin(turn) + 0.4 * np.sin(2 * turn + 1.0)
                     + 0.4 * wobble * (1 + np.sin(turn)))


def _hum_sound(profile: CompressorProfile, t: np.ndarray, sample_rate: float,
               rng: np.random.Generator) -> np.ndarray:
    """Electrical buzz: mains harmonics up to 20x, the even ones (magnetostriction) strongest."""
    orders = np.arange(1, 21)
    amps = np.where(orders % 2 == 0, 1.0, 0.5) / orders**0.7
    phases = 2 * np.pi * profile.mains_hz * np.outer(orders, t) + orders[:, None]
    return _unit_rms(amps @ np.sin(phases))


_FAULT_SOUNDS = {"bearing": _bearing_sound, "leak": _leak_sound, "rattle": _rattle_sound,
                 "imbalance": _imbalance_sound, "hum": _hum_sound}
# RMS of each fault at severity 1, relative to the device's own flow noise RMS. Chosen so that
# at severity 1 the fault's strongest mel band is about 20 dB above the healthy sound (median
# over devices: a plainly failing machine); severity scales the amplitude, so 0.25 is 12 dB
# weaker: an incipient fault.
FAULT_LEVELS = {"bearing": 0.63, "leak": 1.4, "rattle": 0.63, "imbalance": 5.0, "hum": 5.0}


def _audio_fault(profile: CompressorProfile, fault: str, t: np.ndarray, sample_rate: float,
                 rng: np.random.Generator) -> np.ndarray:
    """The fault's own sound at severity 1 (full scale, before the device gain)."""
    sound = _FAULT_SOUNDS[fault](profile, t, sample_rate, rng)
    return FAULT_LEVELS[fault] * profile.flow_level * sound


def _check(fault: str | None, severity: float) -> float:
    if fault is not None and fault not in FAULT_KINDS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {FAULT_KINDS}")
    return float(np.clip(severity, 0.0, 1.0))


def audio_window(profile: CompressorProfile, *, duration_s: float = 1.0,
                 sample_rate: int = 16000, t0_s: float = 0.0, fault: str | None = None,
                 severity: float = 0.0, running: bool = True,
                 rng: np.random.Generator) -> np.ndarray:
    """One microphone window, float32 mono in [-1, 1]. severity 0..1 scales the fault's
    amplitude linearly; a fault sounds only while the compressor runs."""
    severity = _check(fault, severity)
    n = int(round(duration_s * sample_rate))
    t = t0_s + np.arange(n) / sample_rate
    sound = profile.background_level * _shaped_noise(rng, n, sample_rate, _band(20.0, 2000.0))
    if running:
        sound += _running_sound(profile, t, sample_rate, rng)
        if fault is not None and severity > 0:
            sound += severity * _audio_fault(profile, fault, t, sample_rate, rng)
    return np.clip(profile.gain * sound, -1.0, 1.0).astype(np.float32)


def _tone(velocity_mm_s: float, hz: float, t: np.ndarray, phase: float = 0.0) -> np.ndarray:
    """The acceleration (m/s^2) of a sinusoidal vibration with the given velocity RMS."""
    peak_velocity = velocity_mm_s * 1e-3 * np.sqrt(2)
    return peak_velocity * 2 * np.pi * hz * np.cos(2 * np.pi * hz * t + phase)


def _healthy_vibration(profile: CompressorProfile, t: np.ndarray, sample_rate: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Main-axis acceleration of a healthy machine: its velocity is mostly the 1x line, then
    the stroke (cylinders x) line and the 2 x mains magnetostriction line."""
    v = profile.velocity_mm_s * rng.uniform(0.9, 1.1)
    r = profile.rotation_hz
    stroke_hz = r * max(profile.cylinders, 2)
    return (_tone(0.8 * v, r, t, profile.phases[0]) + _tone(0.5 * v, stroke_hz, t, 0.7)
            + _tone(0.25 * v, 2 * profile.mains_hz, t, 1.3)
            + 0.02 * rng.standard_normal(t.size))


def _vibration_fault(profile: CompressorProfile, fault: str, t: np.ndarray,
                     sample_rate: float, rng: np.random.Generator) -> np.ndarray:
    """(3, n) extra acceleration of a fault at full severity."""
    r = profile.rotation_hz
    if fault == "imbalance":  # a rotating force: x and y in quadrature, little axial
        x = _tone(6.0, r, t, profile.phases[0])
        return np.stack([x, _tone(6.0, r, t, profile.phases[0] - np.pi / 2), 0.2 * x])
    if fault == "bearing":
        ring_hz = 0.35 * sample_rate
        impacts = np.exp(-_since_last(t, profile.bearing_ratio * r) / 0.002)
        x = 20.0 * impacts * np.sin(2 * np.pi * ring_hz * t)
        return np.stack([x, 0.7 * x, 0.4 * x])
    if fault == "rattle":
        x = 15.0 * _rings(rng, t, sample_rate, 12.0, (0.1 * sample_rate, 0.25 * sample_rate),
                          (0.003, 0.01))
        return np.stack([x, 0.5 * x, 0.8 * x])
    if fault == "hum":
        x = _tone(1.5, 2 * profile.mains_hz, t)
        return np.stack([x, 0.8 * x, 0.3 * x])
    if fault == "leak":  # a little extra broadband flow turbulence
        return 0.1 * rng.standard_normal((3, t.size))
    raise ValueError(f"unknown fault {fault!r}; expected one of {FAULT_KINDS}")


def vibration_window(profile: CompressorProfile, *, duration_s: float = 1.0,
                     sample_rate: int = 3200, t0_s: float = 0.0, fault: str | None = None,
                     severity: float = 0.0, running: bool = True,
                     rng: np.random.Generator) -> np.ndarray:
    """(3, n) float64 acceleration in m/s^2 (x, y, z; z carries gravity). A healthy running
    machine is at 0.5-1.3 mm/s velocity RMS (ISO 10816-1 zones A/B); faults raise it."""
    severity = _check(fault, severity)
    n = int(round(duration_s * sample_rate))
    t = t0_s + np.arange(n) / sample_rate
    xyz = 0.005 * rng.standard_normal((3, n))  # sensor noise floor
    if running:
        xyz += np.asarray(profile.axis_weights)[:, None] * _healthy_vibration(
            profile, t, sample_rate, rng)
        if fault is not None and severity > 0:
            xyz += severity * _vibration_fault(profile, fault, t, sample_rate, rng)
    xyz[2] += GRAVITY
    return xyz


# How a fault at full severity shifts the slow readings: temperature offset in degrees C,
# power and audio level as factors.
_TELEMETRY_EFFECTS = {
    None: (0.0, 0.0, 0.0),
    "leak": (8.0, -0.15, 0.1),
    "bearing": (0.5, 0.08, 0.3),
    "rattle": (0.0, 0.03, 0.4),
    "imbalance": (0.5, 0.10, 0.3),
    "hum": (0.0, 0.15, 0.3),
}


def telemetry(profile: CompressorProfile, *, ts_s: float, fault: str | None = None,
              severity: float = 0.0, running: bool = True,
              rng: np.random.Generator) -> dict:
    """One telemetry message as the existing boxes send it. Assumed units: temperature in
    degrees C, vibration as per-axis RMS acceleration in m/s^2 (gravity removed), power in the
    boxes' example range (30-80 running), audio_level an uncalibrated 0-255 loudness."""
    severity = _check(fault, severity)
    hot, more_power, louder = _TELEMETRY_EFFECTS[fault if running else None]
    xyz = vibration_window(profile, duration_s=0.25, fault=fault, severity=severity,
                           running=running, rng=rng)
    rms = np.sqrt(np.mean((xyz - xyz.mean(axis=1, keepdims=True)) ** 2, axis=1))
    level = 90 + 70 * profile.gain if running else 30 + 20 * profile.gain
    power = profile.power * (1 + severity * more_power) if running else 2.5
    return {
        "device_id": profile.device_id,
        "timestamp": round(float(ts_s), 3),
        "temperature": round(profile.setpoint_c + (-0.5 if running else 1.5)
                             + severity * hot + rng.normal(0, 0.2), 2),
        "vibration": {axis: round(float(v), 4) for axis, v in zip("xyz", rms, strict=True)},
        "power_consumption": round(power * rng.uniform(0.97, 1.03), 1),
        "audio_level": int(np.clip(round(level * (1 + severity * louder)
                                         + rng.normal(0, 3)), 0, 255)),
        "sensor_quality": round(float(rng.uniform(0.9, 1.0)), 2),
    }
