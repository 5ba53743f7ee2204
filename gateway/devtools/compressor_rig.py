"""An independent generator of refrigeration-compressor sound and vibration, for evaluation.

Written from a physical description of the machines, separately from `synth.py` (which the
shipped model was trained on), so that `bench/detection.py` can measure the detector on
machines it has never heard (issue 11). Each unit (a device id and a seed) draws its own
physics once:

- an induction motor: 2 or 4 poles at 50 or 60 Hz mains, 1-5 % slip, so the shaft turns at
  about 24-30 or 48-59 Hz; rotor bars for slot harmonics;
- a compressor: reciprocating (1-4 cylinders, a piston/valve impact per cylinder and turn,
  a rich harmonic series) or scroll (smooth: a few harmonics, more flow noise);
- housing resonances (a few damped modes) excited by the flow noise and the impacts;
- a condenser fan (its own speed, 3-7 blades: the blade-pass tone), running with the
  compressor or always; magnetostrictive hum at twice the mains frequency;
- the room: coloured noise, and now and then a door, a voice, a clatter or a passing machine;
- a microphone: gain, a 20 Hz high-pass, self-noise, clipping at full scale;
- a duty cycle (on 8-25 min, off 4-20 min, each cycle's on time jittered) and slow healthy
  drift over days (level ±~1 dB, speed ±~0.3 %, resonances ±~1 %);
- a rolling-element bearing (ball count, ball/pitch diameter ratio) whose defect orders
  (BPFO, BPFI, 2×BSF, FTF) are non-integer multiples of the shaft speed.

Faults add to the healthy signal at a `severity` in [0, 1] (amplitude proportional to it;
severity 0 gives exactly the healthy samples: fault, healthy part and room each draw from
their own random stream). Audio: bearing, leak, rattle, imbalance, electrical. Vibration
(tri-axial acceleration in m/s², gravity on z): outer-race, inner-race and ball defects
(impacts ringing a bearing resonance, modulated as each defect passes the load zone),
imbalance (1× radial) and misalignment (2× radial, 1×/2× axial).
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

import numpy as np

from gateway.wav import encode_wav

AUDIO_FAULTS = ("bearing", "leak", "rattle", "imbalance", "electrical")
VIBRATION_FAULTS = ("bearing_outer", "bearing_inner", "bearing_ball", "imbalance",
                    "misalignment")
AUDIO_RATES = (16_000, 44_100, 48_000)
VIBRATION_RATES = (3_200, 6_400)
DAY_S = 86_400.0
GRAVITY = 9.80665
TRANSIENTS = ("door", "voice", "clatter", "passing")
# Fault levels at severity 1 as RMS relative to the machine's healthy running level: an
# advanced fault a technician hears clearly, its strongest band (of 24 log-spaced bands,
# 20 Hz-7.8 kHz) some 12-17 dB above the healthy sound, median over units; amplitude is
# proportional to severity, so 0.5 is ~7-11 dB up and 0.1 under 2 dB (docs/performance.md).
AUDIO_FAULT_RMS = {"bearing": 0.7, "leak": 0.7, "rattle": 0.6, "imbalance": 1.2,
                   "electrical": 0.7}


@dataclass(frozen=True)
class Bearing:
    balls: int
    ratio: float  # ball diameter / pitch diameter, contact angle 0

    def orders(self) -> dict[str, float]:
        """Defect frequencies as multiples of the shaft speed (standard kinematics)."""
        r = self.ratio
        return {"bpfo": self.balls / 2 * (1 - r), "bpfi": self.balls / 2 * (1 + r),
                "bsf": (1 - r * r) / (2 * r), "ftf": (1 - r) / 2}


@dataclass(frozen=True)
class Unit:
    device_id: str
    seed: int
    mains_hz: float
    poles: int
    slip: float
    compressor: str  # "reciprocating" | "scroll"
    cylinders: int
    harmonics: tuple[float, ...]  # relative amplitude of shaft order 1, 2, ...
    harmonic_phases: tuple[float, ...]
    levels: dict  # RMS of each healthy part relative to the machine level
    flow_beta: float
    modes: tuple[tuple[float, float, float], ...]  # housing (Hz, Q, gain)
    fan_hz: float
    fan_blades: int
    fan_when_off: bool
    rotor_bars: int
    room_beta: float
    gain: float  # machine RMS at the microphone, full scale = 1
    audio_rate: int
    duty: tuple[float, float, float]  # on s, off s, phase s
    drift: tuple[tuple[float, float, float], ...]  # (amplitude, period s, phase) x 3 per quantity
    bearing: Bearing
    bearing_res_hz: float  # what bearing impacts ring at the microphone
    leak_band: tuple[float, float]
    rattle_modes: tuple[float, float]
    transient_rate: float  # chance a window holds a room transient
    vib_rate: int
    vib_axis_gain: tuple[float, float, float]
    vib_1x: float  # 1x acceleration amplitude, m/s2
    vib_res_hz: float  # bearing/structure resonance seen by the accelerometer

    @property
    def shaft_hz(self) -> float:
        """Nominal shaft speed: synchronous speed less the slip."""
        return self.mains_hz * 2 / self.poles * (1 - self.slip)


def _device_rng(device_id: str, seed: int, *more: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(device_id.encode()), *more])


def unit_for(device_id: str, seed: int = 0) -> Unit:
    """The physics of one unit, fixed by its id and the seed."""
    rng = _device_rng(device_id, seed)
    recip = bool(rng.random() < 0.6)
    count = 24 if recip else 10
    slope = rng.uniform(0.5, 1.1) if recip else rng.uniform(1.4, 2.4)
    harmonics = rng.lognormal(0, 0.5, count) * np.arange(1, count + 1) ** -slope
    cylinders = int(rng.integers(1, 5)) if recip else 1
    if recip:
        harmonics[cylinders - 1] *= 2.5  # valve/piston pass: the strongest line
    levels = {"tonal": rng.uniform(0.4, 0.7) if recip else rng.uniform(0.25, 0.45),
              "impacts": rng.uniform(0.25, 0.45) if recip else 0.0,
              "flow": rng.uniform(0.25, 0.4) if recip else rng.uniform(0.4, 0.6),
              "fan": rng.uniform(0.08, 0.35), "hum": rng.uniform(0.01, 0.05),
              "room": rng.uniform(0.04, 0.2)}
    modes = tuple((float(f), float(rng.uniform(8, 40)), float(rng.uniform(0.4, 1.0)))
                  for f in np.sort(rng.uniform(250, 4500, int(rng.integers(2, 5)))))
    balls = int(rng.integers(7, 13))
    leak_lo = rng.uniform(2500, 5000)
    return Unit(
        device_id=device_id, seed=seed, mains_hz=float(rng.choice([50.0, 60.0])),
        poles=int(rng.choice([2, 4], p=[0.3, 0.7])), slip=float(rng.uniform(0.01, 0.05)),
        compressor="reciprocating" if recip else "scroll", cylinders=cylinders,
        harmonics=tuple(float(h) for h in harmonics / np.sqrt(np.sum(harmonics ** 2))),
        harmonic_phases=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, count)),
        levels=levels, flow_beta=float(rng.uniform(0.3, 1.2)), modes=modes,
        fan_hz=float(rng.uniform(14, 24)), fan_blades=int(rng.integers(3, 8)),
        fan_when_off=bool(rng.random() < 0.4), rotor_bars=int(rng.integers(26, 47)),
        room_beta=float(rng.uniform(0.8, 1.6)), gain=float(10 ** (rng.uniform(-32, -20) / 20)),
        audio_rate=int(rng.choice(AUDIO_RATES)),
        duty=(float(rng.uniform(480, 1500)), float(rng.uniform(240, 1200)),
              float(rng.uniform(0, 3000))),
        drift=tuple((float(a), float(rng.uniform(1.2, 6.5) * DAY_S if i else DAY_S),
                     float(rng.uniform(0, 2 * np.pi)))
                    for a in (0.6, 0.15e-2, 0.5e-2) for i in range(3)),
        bearing=Bearing(balls, float(rng.uniform(0.15, 0.3))),
        bearing_res_hz=float(rng.uniform(2500, 6500)),
        leak_band=(float(leak_lo), float(min(leak_lo * rng.uniform(1.6, 2.4), 7600))),
        rattle_modes=(float(rng.uniform(900, 2500)), float(rng.uniform(2500, 5000))),
        transient_rate=float(rng.uniform(0.02, 0.08)),
        vib_rate=int(rng.choice(VIBRATION_RATES)),
        vib_axis_gain=tuple(float(g) for g in rng.uniform(0.5, 1.2, 3)),
        vib_1x=float(rng.uniform(0.5, 1.5) * 2 * np.pi * 25 * 1e-3),  # 0.5-1.5 mm/s at 25 Hz
        vib_res_hz=float(rng.uniform(600, 1300)),
    )


# --- slow behaviour: duty cycle and drift ---------------------------------------------------


def running_at(unit: Unit, t_s: float) -> bool:
    """Whether the compressor runs at time t_s: fixed period, each cycle's on time jittered."""
    on_s, off_s, phase = unit.duty
    cycle, position = divmod(t_s + phase, on_s + off_s)
    jitter = 0.8 + 0.4 * (zlib.crc32(f"{unit.device_id}/{unit.seed}/{int(cycle)}".encode())
                          / 2 ** 32)
    return bool(position < min(on_s * jitter, (on_s + off_s) * 0.95))


def drift_at(unit: Unit, t_s: float) -> tuple[float, float, float]:
    """(level dB, speed factor, resonance factor) of healthy drift at t_s: sums of slow sines
    (one daily, two of 1-6.5 days), so they wander a little and return."""
    values = [sum(a * np.sin(2 * np.pi * t_s / period + phase)
                  for a, period, phase in unit.drift[3 * q:3 * q + 3]) for q in range(3)]
    return float(values[0]), 1.0 + float(values[1]), 1.0 + float(values[2])


# --- signal pieces -------------------------------------------------------------------------


def _unit_rms(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x * x)))
    return x / rms if rms > 0 else x


def _spectral(x: np.ndarray, rate: float, response) -> np.ndarray:
    """x filtered by a frequency response (a function of Hz), circularly: the window is one
    stretch of a steady process, so what rings past its end comes back at its start."""
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    return np.fft.irfft(np.fft.rfft(x) * response(freqs), x.size)


def _noise(rng: np.random.Generator, n: int, rate: float, beta: float,
           band: tuple[float, float] | None = None) -> np.ndarray:
    """Unit-RMS noise with power falling as 1/f^beta, optionally band-limited (smooth edges)."""
    freqs = np.fft.rfftfreq(n, 1 / rate)
    shape = np.maximum(freqs, 20.0) ** (-beta / 2)
    if band is not None:
        lo, hi = band
        shape = shape / (1 + (lo / np.maximum(freqs, 1.0)) ** 8) / (1 + (freqs / hi) ** 8)
    spectrum = (rng.standard_normal(freqs.size) + 1j * rng.standard_normal(freqs.size)) * shape
    spectrum[0] = 0
    return _unit_rms(np.fft.irfft(spectrum, n))


def _modes(modes, factor: float = 1.0):
    """Frequency response of a set of damped modes (second-order band-passes)."""
    def response(f):
        f = np.maximum(f, 1e-3)
        return sum(g / (1 + 1j * q * (f / (fm * factor) - fm * factor / f)) for fm, q, g in modes)
    return response


def _tones(t: np.ndarray, freqs, amps, phases, rate: float) -> np.ndarray:
    out = np.zeros_like(t)
    for f, a, p in zip(freqs, amps, phases, strict=True):
        if 0 < f < 0.45 * rate:
            out += a * np.sin(2 * np.pi * f * t + p)
    return out


def _series(t: np.ndarray, f0: float, amps, phases, rate: float) -> np.ndarray:
    """Sum of a_k sin(2 pi k f0 t + p_k), k = 1..len(amps), below 0.45 of the rate; each
    order's phasor is the one before times the fundamental's (one exp for the whole series,
    which matters: this is most of a window's cost)."""
    base = np.exp(2j * np.pi * f0 * t)
    order, out = np.ones_like(base), np.zeros(t.size, dtype=complex)
    for k, (a, p) in enumerate(zip(amps, phases, strict=True), start=1):
        if k * f0 >= 0.45 * rate:
            break
        order = order * base
        out += a * np.exp(1j * p) * order
    return out.imag


def _ringing(n: int, rate: float, times_s, amps, ring_hz: float, decay_s: float) -> np.ndarray:
    """Impacts at times_s, each ringing a resonance at ring_hz that decays in decay_s."""
    impulses = np.zeros(n)
    idx = (np.asarray(times_s) * rate).astype(int) % n
    np.add.at(impulses, idx, np.asarray(amps, dtype=float))
    t = np.arange(n) / rate
    kernel = np.exp(-t / decay_s) * np.sin(2 * np.pi * min(ring_hz, 0.45 * rate) * t)
    return np.fft.irfft(np.fft.rfft(impulses) * np.fft.rfft(kernel), n)


def _train(rate_hz: float, duration_s: float, rng: np.random.Generator,
           jitter: float = 0.0) -> np.ndarray:
    """Times of a periodic event at rate_hz starting at a random phase, each a little early or
    late by `jitter` of a period (rolling elements slip)."""
    period = 1 / rate_hz
    times = rng.uniform(0, period) + np.arange(0, duration_s, period)
    times = times + rng.normal(0, jitter * period, times.size)
    return times[(times >= 0) & (times < duration_s)]


def _mic(x: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """The microphone: 20 Hz second-order high-pass, self-noise at -80 dBFS, clipping."""
    x = _spectral(x, rate, lambda f: (f / 20) ** 2 / np.sqrt(1 + (f / 20) ** 4))
    x = x + 1e-4 * rng.standard_normal(x.size)
    return np.clip(x, -1.0, 1.0)


# --- audio -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scene:
    """What one window's parts share: its time axis, the shaft, the machine level."""
    unit: Unit
    t: np.ndarray
    rate: float
    fr: float  # shaft speed now, Hz
    theta: float  # shaft angle at the window's start
    level: float  # machine RMS at the microphone now
    mode_factor: float


def _scene(unit: Unit, t_s: float, rate: float, duration_s: float,
           rng: np.random.Generator) -> _Scene:
    level_db, speed, mode_factor = drift_at(unit, t_s)
    return _Scene(unit, np.arange(int(round(duration_s * rate))) / rate, rate,
                  unit.shaft_hz * speed, float(rng.uniform(0, 2 * np.pi)),
                  unit.gain * 10 ** (level_db / 20), mode_factor)


def _machine(sc: _Scene, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(structure-borne sound: rotation lines, impacts, flow through the housing; fan + hum)."""
    u, t, n = sc.unit, sc.t, sc.t.size
    k = np.arange(1, len(u.harmonics) + 1)
    tonal = _series(t, sc.fr, u.harmonics, np.array(u.harmonic_phases) + k * sc.theta, sc.rate)
    housing = _modes(u.modes, sc.mode_factor)
    flow = _unit_rms(0.6 * _noise(rng, n, sc.rate, u.flow_beta)
                     + _unit_rms(_spectral(_noise(rng, n, sc.rate, u.flow_beta), sc.rate,
                                           housing)))
    structure = u.levels["tonal"] * _unit_rms(tonal) + u.levels["flow"] * flow
    if u.compressor == "reciprocating":
        times = _train(sc.fr * u.cylinders, t[-1] + 1 / sc.rate, rng, jitter=0.01)
        impulses = np.zeros(n)
        np.add.at(impulses, (times * sc.rate).astype(int) % n,
                  rng.normal(1.0, 0.15, times.size))
        structure = structure + u.levels["impacts"] * _unit_rms(
            _spectral(impulses, sc.rate, housing))
    hum = _unit_rms(_tones(t, [2 * u.mains_hz, 4 * u.mains_hz], [1.0, 0.3],
                           rng.uniform(0, 6.3, 2), sc.rate))
    return sc.level * structure, _fan(sc, rng) + sc.level * u.levels["hum"] * hum


def _fan(sc: _Scene, rng: np.random.Generator) -> np.ndarray:
    """The condenser fan: its blade-pass line and 2x, and broadband air noise."""
    u = sc.unit
    blade = u.fan_blades * u.fan_hz
    fan = _unit_rms(_tones(sc.t, [blade, 2 * blade], [1.0, 0.4], rng.uniform(0, 6.3, 2), sc.rate)
                    + 1.5 * _noise(rng, sc.t.size, sc.rate, 2.0, band=(30, 1200)))
    return sc.level * u.levels["fan"] * fan


def _rattle_times(sc: _Scene, severity: float, rng: np.random.Generator) -> np.ndarray:
    """Irregular impacts of a loose part: Poisson, but only while the shaking lifts it (near
    the crest of each turn), more often the looser it is."""
    duration = sc.t[-1] + 1 / sc.rate
    candidates = np.sort(rng.uniform(0, duration, rng.poisson(3 * (4 + 16 * severity) * duration)))
    lifted = np.cos(2 * np.pi * sc.fr * candidates + sc.theta) > 0.5
    return candidates[lifted]


def _audio_fault(sc: _Scene, fault: str, severity: float, structure: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
    """The fault's own sound at unit RMS (rattle: its expected RMS), before its level."""
    u, t, n, rate = sc.unit, sc.t, sc.t.size, sc.rate
    duration = n / rate
    if fault == "bearing":  # outer-race defect: impacts at BPFO, modulated by the load
        times = _train(u.bearing.orders()["bpfo"] * sc.fr, duration, rng, jitter=0.01)
        amps = (1 + 0.5 * np.cos(2 * np.pi * sc.fr * times + sc.theta)) * rng.lognormal(
            0, 0.2, times.size)
        return _unit_rms(_ringing(n, rate, times, amps, u.bearing_res_hz * sc.mode_factor,
                                  0.0015))
    if fault == "leak":  # gas through a pinhole: band-limited hiss that flutters a little
        flutter = 1 + 0.2 * np.sin(2 * np.pi * rng.uniform(2, 8) * t + rng.uniform(0, 6.3))
        return _unit_rms(_noise(rng, n, rate, 0.0, band=u.leak_band) * flutter)
    if fault == "rattle":
        times = _rattle_times(sc, severity, rng)
        amps = rng.exponential(1.0, times.size)
        which = rng.random(times.size) < 0.5
        out = sum(_ringing(n, rate, times[m], amps[m], f, 0.003)
                  for m, f in ((which, u.rattle_modes[0]), (~which, u.rattle_modes[1])))
        kernel_energy = 0.003 / 4 * rate  # sum of a decaying sine's squares, per impact
        expected_rate = (4 + 16 * severity) * duration  # a third of the candidates are lifted
        return out / np.sqrt(max(expected_rate * 2 * kernel_energy / n, 1e-12))
    if fault == "imbalance":  # 1x up, a little 2x, and the structure modulated at 1x
        lines = _tones(t, [sc.fr, 2 * sc.fr], [1.0, 0.25], [sc.theta, 2 * sc.theta], rate)
        sidebands = np.cos(2 * np.pi * sc.fr * t + sc.theta) * structure / max(sc.level, 1e-12)
        return _unit_rms(_unit_rms(lines) + 0.5 * _unit_rms(sidebands))
    if fault == "electrical":  # magnetostriction lines at 2x mains and up, rotor-slot lines
        f1 = u.mains_hz
        hum = _tones(t, [2 * f1, 4 * f1, 6 * f1, 8 * f1], [1.0, 0.5, 0.3, 0.2],
                     rng.uniform(0, 6.3, 4), rate)
        slots = _tones(t, [u.rotor_bars * sc.fr - f1, u.rotor_bars * sc.fr + f1], [0.3, 0.3],
                       rng.uniform(0, 6.3, 2), rate)
        return _unit_rms(hum + slots)
    raise ValueError(f"unknown audio fault {fault!r}; expected one of {AUDIO_FAULTS}")


def _transient(sc: _Scene, rng: np.random.Generator) -> np.ndarray:
    """One room event: a door, a voice, a clatter of tools or a machine passing by."""
    t, n, rate, level = sc.t, sc.t.size, sc.rate, sc.level
    kind = TRANSIENTS[int(rng.integers(len(TRANSIENTS)))]
    start = rng.uniform(0, t[-1] * 0.8)
    if kind == "door":
        envelope = np.where(t >= start, np.exp(-(t - start) / 0.15), 0.0)
        return level * 10 ** (rng.uniform(0, 10) / 20) * 3 * envelope * _noise(
            rng, n, rate, 0.0, band=(25, 150))
    if kind == "voice":
        length = rng.uniform(0.3, 0.8)
        f0 = rng.uniform(100, 250)
        harmonics = np.arange(1, int(4000 / f0) + 1) * f0
        formants = np.abs(_modes([(rng.uniform(500, 900), 5, 1), (rng.uniform(1200, 2500), 8,
                                                                   0.6)])(harmonics))
        voiced = _unit_rms(_tones(t, harmonics, formants, rng.uniform(0, 6.3, harmonics.size),
                                  rate))
        inside = (t >= start) & (t < start + length)
        envelope = np.where(inside, np.sin(np.pi * np.clip((t - start) / length, 0, 1)), 0.0)
        return level * 10 ** (rng.uniform(-12, -2) / 20) * 1.6 * envelope * voiced
    if kind == "clatter":
        times = start + np.sort(rng.uniform(0, 0.3, int(rng.integers(3, 9))))
        out = _ringing(n, rate, times, rng.exponential(1.0, times.size),
                       rng.uniform(2000, 6000), 0.004)
        return level * 10 ** (rng.uniform(-10, 0) / 20) * _unit_rms(out)
    f0 = rng.uniform(15, 60)  # passing: another engine's lines and its noise, all window
    lines = _tones(t, f0 * np.arange(1, 9), 1 / np.arange(1, 9), rng.uniform(0, 6.3, 8), rate)
    return level * 10 ** (rng.uniform(-15, -6) / 20) * _unit_rms(
        _unit_rms(lines) + _noise(rng, n, rate, 1.0))


def _streams(unit: Unit, t_s: float, rng: np.random.Generator | None, stream: int):
    """Four independent generators (machine, fault, room, sensor) for one window."""
    if rng is None:
        rng = _device_rng(unit.device_id, unit.seed, int(round(t_s * 1000)), stream)
    return [np.random.default_rng(s) for s in rng.integers(0, 2 ** 63, 4)]


def _check(fault: str | None, severity: float, kinds: tuple[str, ...]) -> None:
    if fault is not None and fault not in kinds:
        raise ValueError(f"unknown fault {fault!r}; expected one of {kinds}")
    if not 0.0 <= severity <= 1.0:
        raise ValueError(f"severity {severity!r} is outside [0, 1]")


def audio_window(unit: Unit, t_s: float, *, sample_rate: int | None = None,
                 duration_s: float = 1.0, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, rng: np.random.Generator | None = None,
                 transients: bool = True) -> np.ndarray:
    """Mono float32 samples (full scale ±1) of the unit's microphone from time t_s (epoch s
    or any clock: it sets the duty cycle, the drift and, without `rng`, the randomness).
    `running` None follows the duty cycle; faults sound only while the compressor runs."""
    _check(fault, severity, AUDIO_FAULTS)
    rate = sample_rate or unit.audio_rate
    r_machine, r_fault, r_room, r_mic = _streams(unit, t_s, rng, 1)
    sc = _scene(unit, t_s, rate, duration_s, r_machine)
    running = running_at(unit, t_s) if running is None else running
    n = sc.t.size
    x = unit.gain * unit.levels["room"] * _noise(r_room, n, rate, unit.room_beta)
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
    return _mic(x, rate, r_mic).astype(np.float32)


def wav_payload(samples: np.ndarray, sample_rate: int) -> bytes:
    """The WAV file a sensor box publishes (PCM 16-bit mono)."""
    return encode_wav(np.asarray(samples)[:, None], sample_rate)


# --- vibration -------------------------------------------------------------------------------


def _bearing_impacts(sc: _Scene, fault: str, rng: np.random.Generator) -> np.ndarray:
    """A rolling-element defect: an impact each time it meets the other surface, ringing the
    structure's resonance. Outer race: fixed in the load zone, steady impacts at BPFO; inner
    race: turns with the shaft, so its impacts swell and fade once per turn (BPFI with 1x
    sidebands); ball: strikes both races once per spin (2x BSF), carried round by the cage
    (modulated at FTF)."""
    orders = sc.unit.bearing.orders()
    order = {"bearing_outer": orders["bpfo"], "bearing_inner": orders["bpfi"],
             "bearing_ball": 2 * orders["bsf"]}[fault]
    duration = sc.t.size / sc.rate
    times = _train(order * sc.fr, duration, rng, jitter=0.01)
    if fault == "bearing_inner":
        load = 0.1 + 0.9 * (1 + np.cos(2 * np.pi * sc.fr * times + sc.theta)) / 2
    elif fault == "bearing_ball":
        load = 0.55 + 0.45 * np.cos(2 * np.pi * orders["ftf"] * sc.fr * times
                                    + rng.uniform(0, 6.3))
    else:
        load = np.ones(times.size)
    amps = load * rng.lognormal(0, 0.15, times.size)
    return _unit_rms(_ringing(sc.t.size, sc.rate, times, amps,
                              sc.unit.vib_res_hz * sc.mode_factor, 0.002))


def _vibration_fault(sc: _Scene, fault: str, a1: float,
                     rng: np.random.Generator) -> np.ndarray:
    """(3, n) acceleration the fault adds at severity 1."""
    t, w = sc.t, 2 * np.pi * sc.fr
    if fault.startswith("bearing_"):
        # an advanced defect: its impacts carry about three times the healthy acceleration
        # RMS (which is near a1), as in published test-rig records of spalled races
        impacts = 3.0 * _bearing_impacts(sc, fault, rng)
        return a1 * np.stack([impacts, 0.8 * impacts, 0.4 * impacts])
    if fault == "imbalance":  # a rotating force: 1x on both radial axes, 90 degrees apart
        return 2.0 * a1 * np.stack([np.sin(w * t + sc.theta), np.cos(w * t + sc.theta),
                                    0.2 * np.sin(w * t + sc.theta)])
    if fault == "misalignment":  # 2x radial, strong 1x and 2x along the shaft (axial, z)
        two = np.sin(2 * w * t + 2 * sc.theta + 0.7)
        return a1 * np.stack([1.5 * two, 1.2 * np.cos(2 * w * t + 2 * sc.theta),
                              1.2 * np.sin(w * t + sc.theta + 1.1) + 1.5 * two])
    raise ValueError(f"unknown vibration fault {fault!r}; expected one of {VIBRATION_FAULTS}")


def _vibration_machine(sc: _Scene, a1: float, rng: np.random.Generator) -> np.ndarray:
    """(3, n) healthy running acceleration: rotation orders, pistons, 2x mains, broadband."""
    u, t, n = sc.unit, sc.t, sc.t.size
    out = np.zeros((3, n))
    ratios = np.minimum(np.array(u.harmonics) / u.harmonics[0], 1.0)
    for axis, offset in enumerate((0.0, np.pi / 2, 0.5)):
        k = np.arange(1, 9)
        amps = a1 * np.concatenate([[1.0 if axis < 2 else 0.3], 0.5 * ratios[1:8]])
        out[axis] = _tones(t, k * sc.fr, amps, k * (sc.theta + offset), sc.rate)
        out[axis] += 0.1 * a1 * np.sin(2 * np.pi * 2 * u.mains_hz * t + axis)
    structure = _modes([(u.vib_res_hz * sc.mode_factor * 0.6, 6, 1.0),
                        (u.vib_res_hz * sc.mode_factor, 10, 0.7)])
    if u.compressor == "reciprocating":
        times = _train(sc.fr * u.cylinders, n / sc.rate, rng, jitter=0.01)
        impulses = np.zeros(n)
        np.add.at(impulses, (times * sc.rate).astype(int) % n, 1.0)
        out += 0.3 * a1 * _unit_rms(_spectral(impulses, sc.rate, structure))
    for axis in range(3):
        out[axis] += 0.15 * a1 * _unit_rms(_spectral(_noise(rng, n, sc.rate, 0.5), sc.rate,
                                                     structure))
    return out * np.array(u.vib_axis_gain)[:, None]


def vibration_window(unit: Unit, t_s: float, *, sample_rate: int | None = None,
                     duration_s: float = 1.0, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None,
                     rng: np.random.Generator | None = None) -> np.ndarray:
    """(3, n) acceleration in m/s² (x, y radial; z axial, with gravity) of the unit's
    accelerometer from time t_s; like audio_window otherwise."""
    _check(fault, severity, VIBRATION_FAULTS)
    rate = sample_rate or unit.vib_rate
    r_machine, r_fault, r_room, r_sensor = _streams(unit, t_s, rng, 2)
    sc = _scene(unit, t_s, rate, duration_s, r_machine)
    running = running_at(unit, t_s) if running is None else running
    a1 = unit.vib_1x * 10 ** (drift_at(unit, t_s)[0] / 20)
    n = sc.t.size
    xyz = 0.004 * r_sensor.standard_normal((3, n))  # the sensor's own noise, m/s2
    if running:
        xyz += _vibration_machine(sc, a1, r_machine)
        if fault is not None and severity > 0:
            xyz += severity * _vibration_fault(sc, fault, a1, r_fault)
    elif unit.fan_when_off:
        xyz += 0.03 * a1 * np.stack([_noise(r_room, n, rate, 1.0) for _ in range(3)])
    xyz[2] += GRAVITY
    return xyz


def vibration_payload(xyz: np.ndarray, sample_rate: int, ts_s: float) -> str:
    """The JSON a sensor box publishes on `<prefix>/<device>/vibration` (m/s², 5 decimals)."""
    axes = {name: [round(float(v), 5) for v in row] for name, row in zip("xyz", xyz, strict=True)}
    return json.dumps({"ts": round(ts_s, 3), "sample_rate": sample_rate, "unit": "m/s2", **axes})
