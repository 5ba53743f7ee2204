"""The ten audio faults, each the sound a failing part adds to (or changes in) the unit.

Every fault returns its contribution at the source: faulty window = healthy parts of the
twin + contribution, so the twin shares every healthy draw. A contribution grows with
severity (0.1 a first hint, 1 plainly broken; linearly except a bearing's grinding, which
comes late) and is drawn from the fault's own stream.
Level notes give the contribution at severity 1 relative to the healthy compressor sound.
Most faults live in parts that turn with the compressor; the agitator's gearbox sounds
whenever the paddle turns.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import dsp
from .bearing import defect_orders
from .compressor_sound import (
    Scene,
    hum_cycles,
    order_count,
    pulse_harmonics,
)
from .seeding import stream, window_key
from .units import Bearing

Fault = Callable[[Scene, float, np.random.Generator], np.ndarray]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def _sized(x: np.ndarray, scene: Scene, level_db: float, s: float) -> np.ndarray:
    """Scale a shape to s * (healthy level + level_db); the shape itself never depends on s."""
    rms = _rms(x)
    return x * (s * scene.ref * dsp.db(level_db) / rms) if rms > 0 else x


def _impact_gain(response: np.ndarray, n: int) -> float:
    """Amplitude making one impulse through `response` carry the energy of n samples at
    RMS 1 (Parseval on the rfft half-spectrum), so sparse knocks can be sized by count."""
    energy = 2.0 * float(np.sum(np.abs(response) ** 2)) / n
    return math.sqrt(n / energy) if energy > 0 else 0.0


def _band(scene: Scene, lo: float, hi: float) -> np.ndarray:
    return dsp.band(dsp.freqs(scene.n, scene.rate), lo, hi)


def _ringers(scene: Scene, modes: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    f = dsp.freqs(scene.n, scene.rate)
    nyq = 0.45 * scene.rate
    out = np.zeros(f.size, complex)
    for f0, q, g in modes:
        if f0 < nyq:
            out += g * dsp.decay_response(f, f0, q)
    return out


def compressor_bearing_wear(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """Spalled main bearing: impacts at the outer-race order of the crank speed ring the
    shell; the crank load rotates, so they swell once per revolution; grinding noise."""
    m = scene.motion
    order = defect_orders(scene.unit.bearing).outer
    idx = dsp.event_indices(m.cycles * order, r.random())
    idx = idx + r.integers(-2, 3, idx.size)  # rolling elements slip: impacts jitter
    load = 0.55 + 0.45 * np.cos(2 * np.pi * (m.cycles[np.clip(idx, 0, scene.n - 1)] + 0.2))
    shell = _ringers(scene, scene.unit.compressor.shell)
    knocks = dsp.ring(scene.n, scene.rate, idx, load * r.uniform(0.7, 1.0, idx.size), shell)
    grind = dsp.shaped_noise(r, _band(scene, 1500, 7000), 1.0, scene.n)
    grind *= 0.6 + 0.4 * np.cos(2 * np.pi * m.cycles)
    return np.asarray(_sized(knocks, scene, -7.0, s) + _sized(grind, scene, -13.0, s * s))


def suction_valve_broken(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """A broken reed: that cylinder barely pumps (its pulse collapses, so the other
    cylinders' pattern loses symmetry and 1x orders appear), and the fragment flutters
    (a few hundred Hz) through every suction stroke, buzzing on the shell."""
    unit, m = scene.unit, scene.motion
    count = order_count(unit, m.rot_hz, scene.rate)
    gains = list(unit.compressor.cylinder_spread)
    gains[0] *= 1.0 - 0.85 * s
    delta = dsp.harmonic_table(pulse_harmonics(unit, count, tuple(gains))
                               - pulse_harmonics(unit, count))
    pulse = dsp.lookup(delta, m.cycles) * scene.amps["pulse"] * scene.pulse_scale * m.load**1.5
    c = unit.compressor.cylinders
    stroke = (m.cycles % 1.0) * c  # cylinder 0 owns the first 1/c of each revolution
    window = np.clip(np.sin(np.pi * np.clip((stroke - 0.5) / 0.45, 0, 1)), 0, None)
    flutter = 0.5 + 0.5 * np.sin(2 * np.pi * r.uniform(350, 700) * scene.tau)
    buzz = dsp.shaped_noise(r, _band(scene, 2500, 8000), 1.0, scene.n) * window * flutter
    return np.asarray((pulse + _sized(buzz, scene, -8.0, s)) * scene.gate)


def refrigerant_undercharge(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """Too little refrigerant: vapour bubbles reach the expansion valve, which hisses and
    gurgles; less mass flow means weaker compression pulses (the runs get longer too)."""
    coarse = np.linspace(0.0, scene.tau[-1], 500)  # bubbles are slow: build them coarse
    bubbles = np.zeros(coarse.size)
    count = r.poisson(25)
    for t0, w in zip(r.uniform(0, scene.tau[-1], count), r.uniform(0.005, 0.03, count),
                     strict=True):
        bubbles += np.exp(-0.5 * ((coarse - t0) / w) ** 2)
    bubbles = np.interp(scene.tau, coarse, bubbles)
    hiss = dsp.shaped_noise(r, _band(scene, 2000, 9000), 1.0, scene.n) * (0.4 + bubbles)
    weaker = -0.35 * s * scene.parts.get("pulse", np.zeros(scene.n))
    return np.asarray(weaker + _sized(hiss, scene, -5.0, s) * scene.gate)


def high_head_pressure(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """Overcharge or a blocked condenser: discharge pressure high, so the pulses grow and
    sharpen (richer harmonics), discharge valves slam harder and the motor draws more."""
    unit, m = scene.unit, scene.motion
    count = order_count(unit, m.rot_hz, scene.rate)
    healthy = pulse_harmonics(unit, count)
    hard = pulse_harmonics(unit, count, width_scale=0.7, strength=1.8)
    delta = dsp.harmonic_table(hard - healthy)
    pulse = dsp.lookup(delta, m.cycles) * scene.amps["pulse"] * scene.pulse_scale * m.load**1.5
    zero = np.zeros(scene.n)
    extra = 0.7 * scene.parts.get("valve", zero) + 0.6 * scene.parts.get("hum", zero)
    return np.asarray(s * (pulse * scene.gate + extra))


def liquid_slugging(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """Liquid refrigerant in a cylinder is incompressible: some compression strokes end in
    a hard knock ringing the lower shell modes; more strokes knock as it gets worse."""
    m, c = scene.motion, scene.unit.compressor.cylinders
    idx = np.concatenate([dsp.event_indices(m.cycles, (j + 0.48) / c) for j in range(c)])
    hit = r.random(idx.size) < 0.15 + 0.55 * s  # the same strokes keep knocking as s grows
    f0 = scene.unit.compressor.shell[0][0]
    thud = _ringers(scene, ((f0, 4.0, 1.0), (f0 * 0.45, 3.0, 0.8), (f0 * 2.3, 6.0, 0.5)))
    expected = max(1.0, 0.4 * idx.size)
    amp = s * scene.ref * dsp.db(-1.0) * _impact_gain(thud, scene.n) / math.sqrt(expected)
    return dsp.ring(scene.n, scene.rate, idx[hit], amp * r.uniform(0.6, 1.2, idx.size)[hit], thud)


def fan_bearing_wear(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """Worn fan motor bearing: a faint dry whine wandering around a few kHz, swelling once
    per fan revolution, and outer-race ticks ringing the small motor housing; far under
    the compressor, quieter still when the condenser is outside."""
    unit = scene.unit
    if scene.motion.fans == 0:
        return np.zeros(scene.n)
    p = stream(unit.seed, unit.device_id, "fan-bearing")
    whine_hz = min(p.uniform(2800, 5500), 0.4 * scene.rate)
    fan = scene.fan_cycles
    wander = np.cumsum(whine_hz * (1 + 0.01 * np.sin(2 * np.pi * 0.7 * scene.tau))) / scene.rate
    whine = np.sin(2 * np.pi * (wander + r.random())) * (0.6 + 0.4 * np.cos(2 * np.pi * fan))
    small = Bearing(balls=8, ball_mm=6.35, pitch_mm=25.0, contact_deg=0.0)
    idx = dsp.event_indices(fan * defect_orders(small).outer, r.random())
    ticks = dsp.ring(scene.n, scene.rate, idx, np.ones(idx.size),
                     _ringers(scene, ((whine_hz * 0.8, 15.0, 1.0),)))
    outside = -8.0 if unit.fan.outside else 0.0
    whine = _sized(whine, scene, -24.0 + outside, s)
    return np.asarray(whine + _sized(ticks, scene, -27.0 + outside, s))


def fan_blade_damage(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """A cracked or bent blade: that blade pushes air differently, so the blade-pass tones
    are modulated once per revolution (sidebands at +-1x fan) and the blade ticks and
    whooshes each time it passes the shroud; the imbalance shakes the panels at 1x/2x."""
    if scene.motion.fans == 0:
        return np.zeros(scene.n)
    fan = scene.fan_cycles
    phase = stream(scene.unit.seed, scene.unit.device_id, "blade").random()
    tones = scene.parts.get("fan", np.zeros(scene.n)) * 0.8 * np.cos(2 * np.pi * (fan + phase))
    swish = np.exp(-((fan + phase) % 1.0) / 0.04)
    gust = dsp.shaped_noise(r, _band(scene, 300, 3000), 1.0, scene.n) * swish
    shake = np.cos(2 * np.pi * (fan + phase)) + 0.6 * np.cos(4 * np.pi * (fan + phase))
    return np.asarray(s * tones + _sized(gust, scene, -12.0, s) + _sized(shake, scene, -14.0, s))


def loose_panel_rattle(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """A loose panel or mounting bolt: once per revolution (or per half, depending on the
    unit) the shaking lifts the panel and it slaps back, bouncing two or three times,
    each slap ringing the panel's own modes."""
    unit, m = scene.unit, scene.motion
    p = stream(unit.seed, unit.device_id, "panel")
    order = 1.0 if p.random() < 0.5 else 2.0
    modes = tuple((float(p.uniform(lo, hi)), float(p.uniform(15, 35)), g)
                  for lo, hi, g in ((250, 500, 1.0), (600, 1100, 0.7), (1400, 2400, 0.4)))
    first = dsp.event_indices(m.cycles * order, p.random())
    bounce = [(0, 1.0), (int(0.004 * scene.rate), 0.45), (int(0.009 * scene.rate), 0.2)]
    idx = np.concatenate([first + d for d, _ in bounce])
    amp = np.concatenate([np.full(first.size, a) for _, a in bounce])
    slaps = dsp.ring(scene.n, scene.rate, idx, amp * r.uniform(0.7, 1.0, idx.size),
                     _ringers(scene, modes))
    return np.asarray(_sized(slaps, scene, -6.0, s) * scene.gate)


def phase_imbalance(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """Unbalanced supply phases (or a failing run capacitor): a negative-sequence field
    pulls against the rotor, so torque and hum pulse at twice the mains frequency, with a
    slow beat at twice the slip frequency."""
    m = scene.motion
    mains = hum_cycles(scene, r.random())
    slip_hz = max(2 * m.mains_hz / scene.unit.compressor.poles - m.rot_hz, 0.2)
    beat = 1.0 + 0.4 * np.cos(2 * np.pi * 2 * slip_hz * scene.tau)
    hum = (np.cos(4 * np.pi * mains) + 0.4 * np.cos(8 * np.pi * mains + 1.0)
           + 0.2 * np.cos(12 * np.pi * mains + 2.0)) * beat
    return np.asarray(_sized(hum, scene, -7.0, s) * scene.gate)


def agitator_gearbox_wear(scene: Scene, s: float, r: np.random.Generator) -> np.ndarray:
    """Worn gear teeth in the agitator's gear motor: the mesh whine grows harmonics and
    sidebands at the wheel's speed (eccentric wear), and a chipped tooth knocks once per
    pinion turn; heard only while the paddle turns."""
    unit = scene.unit
    if not scene.motion.agitator:
        return np.zeros(scene.n)
    z1, z2 = unit.farm.gear_teeth
    motor = r.random() + unit.farm.agitator_motor_hz * scene.tau
    wheel_hz = unit.farm.agitator_motor_hz * z1 / z2
    mesh = z1 * motor
    whine = (np.cos(2 * np.pi * mesh) * (1 + 0.8 * np.cos(2 * np.pi * wheel_hz * scene.tau))
             + 0.7 * np.cos(4 * np.pi * mesh) + 0.4 * np.cos(6 * np.pi * mesh))
    idx = dsp.event_indices(motor, 0.3)
    knock = dsp.ring(scene.n, scene.rate, idx, np.ones(idx.size),
                     _ringers(scene, ((1800.0, 12.0, 1.0), (3900.0, 15.0, 0.5))))
    return np.asarray(_sized(whine, scene, -12.0, s) + _sized(knock, scene, -15.0, s))


FAULTS: dict[str, Fault] = {
    "compressor_bearing_wear": compressor_bearing_wear,
    "suction_valve_broken": suction_valve_broken,
    "refrigerant_undercharge": refrigerant_undercharge,
    "high_head_pressure": high_head_pressure,
    "liquid_slugging": liquid_slugging,
    "fan_bearing_wear": fan_bearing_wear,
    "fan_blade_damage": fan_blade_damage,
    "loose_panel_rattle": loose_panel_rattle,
    "phase_imbalance": phase_imbalance,
    "agitator_gearbox_wear": agitator_gearbox_wear,
}
AUDIO_FAULTS: tuple[str, ...] = tuple(FAULTS)
_NEEDS_COMPRESSOR = set(AUDIO_FAULTS) - {"agitator_gearbox_wear"}


def contribution(scene: Scene, fault: str, severity: float, t_s: float) -> np.ndarray:
    """What `fault` at `severity` adds to this window's machine sound (zeros if silent)."""
    if severity <= 0.0 or (fault in _NEEDS_COMPRESSOR and not scene.motion.turning):
        return np.zeros(scene.n)
    r = stream(scene.unit.seed, scene.unit.device_id, "fault", fault, window_key(t_s), scene.rate)
    return FAULTS[fault](scene, severity, r)
