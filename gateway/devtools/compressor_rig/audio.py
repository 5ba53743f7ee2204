"""The microphone's window: the machine, its fan and hum, the room and its events, and the
five audio faults."""

from __future__ import annotations

import numpy as np

from gateway.devtools.compressor_rig.signals import (
    Scene,
    check,
    mic,
    modes,
    noise,
    ringing,
    scene,
    series,
    spectral,
    streams,
    tones,
    train,
    unit_rms,
)
from gateway.devtools.compressor_rig.units import AUDIO_FAULTS, Unit, running_at
from gateway.wav import encode_wav

TRANSIENTS = ("door", "voice", "clatter", "passing")
# Fault levels at severity 1 as RMS relative to the machine's healthy running level: an
# advanced fault a technician hears clearly, its strongest band (of 24 log-spaced bands,
# 20 Hz-7.8 kHz) some 12-17 dB above the healthy sound, median over units; amplitude is
# proportional to severity, so 0.5 is ~7-11 dB up and 0.1 under 2 dB (docs/performance.md).
AUDIO_FAULT_RMS = {"bearing": 0.7, "leak": 0.7, "rattle": 0.6, "imbalance": 1.2,
                   "electrical": 0.7}


def _machine(sc: Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(structure-borne sound: rotation lines, impacts, flow through the housing; fan + hum)."""
    u, t, n = sc.unit, sc.t, sc.t.size
    k = np.arange(1, len(u.harmonics) + 1)
    tonal = series(t, sc.fr, u.harmonics, np.array(u.harmonic_phases) + k * sc.theta, sc.rate)
    housing = modes(u.modes, sc.mode_factor)
    flow = unit_rms(0.6 * noise(rng, n, sc.rate, u.flow_beta)
                     + unit_rms(spectral(noise(rng, n, sc.rate, u.flow_beta), sc.rate,
                                           housing)))
    structure = u.levels["tonal"] * unit_rms(tonal) + u.levels["flow"] * flow
    if u.compressor == "reciprocating":
        times = train(sc.fr * u.cylinders, t[-1] + 1 / sc.rate, rng, jitter=0.01)
        impulses = np.zeros(n)
        np.add.at(impulses, (times * sc.rate).astype(int) % n,
                  rng.normal(1.0, 0.15, times.size))
        structure = structure + u.levels["impacts"] * unit_rms(
            spectral(impulses, sc.rate, housing))
    hum = unit_rms(tones(t, [2 * u.mains_hz, 4 * u.mains_hz], [1.0, 0.3],
                           rng.uniform(0, 6.3, 2), sc.rate))
    return sc.level * structure, _fan(sc, rng) + sc.level * u.levels["hum"] * hum


def _fan(sc: Scene, rng: np.random.Generator) -> np.ndarray:
    """The condenser fan: its blade-pass line and 2x, and broadband air noise."""
    u = sc.unit
    blade = u.fan_blades * u.fan_hz
    fan = unit_rms(tones(sc.t, [blade, 2 * blade], [1.0, 0.4], rng.uniform(0, 6.3, 2), sc.rate)
                    + 1.5 * noise(rng, sc.t.size, sc.rate, 2.0, band=(30, 1200)))
    return sc.level * u.levels["fan"] * fan


def rattle_times(sc: Scene, severity: float, rng: np.random.Generator) -> np.ndarray:
    """Irregular impacts of a loose part: Poisson, but only while the shaking lifts it (near
    the crest of each turn), more often the looser it is."""
    duration = sc.t[-1] + 1 / sc.rate
    candidates = np.sort(rng.uniform(0, duration, rng.poisson(3 * (4 + 16 * severity) * duration)))
    lifted = np.cos(2 * np.pi * sc.fr * candidates + sc.theta) > 0.5
    return candidates[lifted]


def _audio_fault(sc: Scene, fault: str, severity: float, structure: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """The fault's own sound at unit RMS (rattle: its expected RMS), before its level."""
    u, t, n, rate = sc.unit, sc.t, sc.t.size, sc.rate
    duration = n / rate
    if fault == "bearing":  # outer-race defect: impacts at BPFO, modulated by the load
        times = train(u.bearing.orders()["bpfo"] * sc.fr, duration, rng, jitter=0.01)
        amps = (1 + 0.5 * np.cos(2 * np.pi * sc.fr * times + sc.theta)) * rng.lognormal(
            0, 0.2, times.size)
        return unit_rms(ringing(n, rate, times, amps, u.bearing_res_hz * sc.mode_factor,
                                  0.0015))
    if fault == "leak":  # gas through a pinhole: band-limited hiss that flutters a little
        flutter = 1 + 0.2 * np.sin(2 * np.pi * rng.uniform(2, 8) * t + rng.uniform(0, 6.3))
        return unit_rms(noise(rng, n, rate, 0.0, band=u.leak_band) * flutter)
    if fault == "rattle":
        times = rattle_times(sc, severity, rng)
        amps = rng.exponential(1.0, times.size)
        which = rng.random(times.size) < 0.5
        out = sum(ringing(n, rate, times[m], amps[m], f, 0.003)
                  for m, f in ((which, u.rattle_modes[0]), (~which, u.rattle_modes[1])))
        kernel_energy = 0.003 / 4 * rate  # sum of a decaying sine's squares, per impact
        expected_rate = (4 + 16 * severity) * duration  # a third of the candidates are lifted
        return out / np.sqrt(max(expected_rate * 2 * kernel_energy / n, 1e-12))
    if fault == "imbalance":  # 1x up, a little 2x, and the structure modulated at 1x
        lines = tones(t, [sc.fr, 2 * sc.fr], [1.0, 0.25], [sc.theta, 2 * sc.theta], rate)
        sidebands = np.cos(2 * np.pi * sc.fr * t + sc.theta) * structure / max(sc.level, 1e-12)
        return unit_rms(unit_rms(lines) + 0.5 * unit_rms(sidebands))
    if fault == "electrical":  # magnetostriction lines at 2x mains and up, rotor-slot lines
        f1 = u.mains_hz
        hum = tones(t, [2 * f1, 4 * f1, 6 * f1, 8 * f1], [1.0, 0.5, 0.3, 0.2],
                     rng.uniform(0, 6.3, 4), rate)
        slots = tones(t, [u.rotor_bars * sc.fr - f1, u.rotor_bars * sc.fr + f1], [0.3, 0.3],
                       rng.uniform(0, 6.3, 2), rate)
        return unit_rms(hum + slots)
    raise ValueError(f"unknown audio fault {fault!r}; expected one of {AUDIO_FAULTS}")


def _transient(sc: Scene, rng: np.random.Generator) -> np.ndarray:
    """One room event: a door, a voice, a clatter of tools or a machine passing by."""
    t, n, rate, level = sc.t, sc.t.size, sc.rate, sc.level
    kind = TRANSIENTS[int(rng.integers(len(TRANSIENTS)))]
    start = rng.uniform(0, t[-1] * 0.8)
    if kind == "door":
        envelope = np.where(t >= start, np.exp(-(t - start) / 0.15), 0.0)
        return level * 10 ** (rng.uniform(0, 10) / 20) * 3 * envelope * noise(
            rng, n, rate, 0.0, band=(25, 150))
    if kind == "voice":
        length = rng.uniform(0.3, 0.8)
        f0 = rng.uniform(100, 250)
        harmonics = np.arange(1, int(4000 / f0) + 1) * f0
        formants = np.abs(modes([(rng.uniform(500, 900), 5, 1), (rng.uniform(1200, 2500), 8,
                                                                   0.6)])(harmonics))
        voiced = unit_rms(tones(t, harmonics, formants, rng.uniform(0, 6.3, harmonics.size),
                                  rate))
        inside = (t >= start) & (t < start + length)
        envelope = np.where(inside, np.sin(np.pi * np.clip((t - start) / length, 0, 1)), 0.0)
        return level * 10 ** (rng.uniform(-12, -2) / 20) * 1.6 * envelope * voiced
    if kind == "clatter":
        times = start + np.sort(rng.uniform(0, 0.3, int(rng.integers(3, 9))))
        out = ringing(n, rate, times, rng.exponential(1.0, times.size),
                       rng.uniform(2000, 6000), 0.004)
        return level * 10 ** (rng.uniform(-10, 0) / 20) * unit_rms(out)
    f0 = rng.uniform(15, 60)  # passing: another engine's lines and its noise, all window
    lines = tones(t, f0 * np.arange(1, 9), 1 / np.arange(1, 9), rng.uniform(0, 6.3, 8), rate)
    return level * 10 ** (rng.uniform(-15, -6) / 20) * unit_rms(
        unit_rms(lines) + noise(rng, n, rate, 1.0))


def audio_window(unit: Unit, t_s: float, *, sample_rate: int | None = None,
                 duration_s: float = 1.0, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, rng: np.random.Generator | None = None,
                 transients: bool = True) -> np.ndarray:
    """Mono float32 samples (full scale ±1) of the unit's microphone from time t_s (epoch s
    or any clock: it sets the duty cycle, the drift and, without `rng`, the randomness).
    `running` None follows the duty cycle; faults sound only while the compressor runs."""
    check(fault, severity, AUDIO_FAULTS)
    rate = sample_rate or unit.audio_rate
    r_machine, r_fault, r_room, r_mic = streams(unit, t_s, rng, 1)
    sc = scene(unit, t_s, rate, duration_s, r_machine)
    running = running_at(unit, t_s) if running is None else running
    n = sc.t.size
    x = unit.gain * unit.levels["room"] * noise(r_room, n, rate, unit.room_beta)
    if transients and r_room.random() < unit.transient_rate:
        x = x + _transient(sc, r_room)
    if running:
        structure, auxiliary = _machine(sc, r_machine)
        x = x + structure + auxiliary
        if fault is not None and severity > 0:
            x = x + sc.level * AUDIO_FAULT_RMS[fault] * severity * _audio_fault(
                sc, fault, severity, structure, r_fault)
    elif unit.fan_when_off:
        x = x + _fan(sc, r_machine)
    return mic(x, rate, r_mic).astype(np.float32)


def wav_payload(samples: np.ndarray, sample_rate: int) -> bytes:
    """The WAV file a sensor box publishes (PCM 16-bit mono)."""
    return encode_wav(np.asarray(samples)[:, None], sample_rate)
