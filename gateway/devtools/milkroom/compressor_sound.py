"""The healthy sound of the condensing unit at its source (before room and microphone).

Parts, each with a physical cause:
  pulse   compression pulses (one per cylinder per revolution, or per scroll orbit) and the
          mechanical rotation orders, read from a one-revolution wave table;
  valve   valve impacts and gas flow ringing the shell modes: shell-coloured noise gated by
          the valve events of each revolution;
  hum     magnetostriction and slot forces at twice the mains frequency and its harmonics,
          louder during the inrush of a start;
  fan     condenser fan blade-pass tones (and the beat of a second fan);
  extra   tandem compressor, agitator gear motor, plate-cooler pump, contactor clacks,
          scroll reverse-rotation whoosh at stop.
Stationary noise (expansion-valve hiss, casing and fan broadband) is kept as a spectrum.
All levels are relative to `ref`, the unit's healthy RMS at the mic, so faults can be
sized against the healthy sound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from . import dsp
from .machine import Motion
from .schedule import milking_at
from .seeding import stream, window_key
from .units import Unit

# Healthy mix, dB relative to the whole compressor sound (normalised in _amps).
_REL = {"pulse": -2.0, "valve": -5.0, "hum": -13.0, "casing": -10.0, "hiss": -15.0}


@dataclass
class Scene:
    """One window's machine sound, kept in parts so faults can be sized and applied."""

    unit: Unit
    motion: Motion
    rate: int
    n: int
    tau: np.ndarray
    amps: dict[str, float]
    ref: float
    pulse_scale: float
    gate: np.ndarray  # compressor sound amplitude over the window (0 when stopped)
    fan_cycles: np.ndarray
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    static: list[tuple[np.ndarray, float]] = field(default_factory=list)


def _amps(unit: Unit) -> dict[str, float]:
    rel = dict(_REL)
    fan = unit.fan
    out_db = -8.0 if fan.outside else 0.0
    rel["fan"], rel["fan_noise"] = fan.tone_db + out_db, fan.noise_db + out_db
    if unit.compressor.kind == "scroll":
        rel["pulse"], rel["valve"] = -7.0, -3.0
    power = sum(10.0 ** (v / 10.0) for v in rel.values())
    ref = dsp.db(unit.compressor.level_db)
    return {k: ref * dsp.db(v) / math.sqrt(power) for k, v in rel.items()}


def pulse_harmonics(unit: Unit, count: int, cylinder_gain: tuple[float, ...] | None = None,
                    width_scale: float = 1.0, strength: float = 1.0) -> np.ndarray:
    """Rotation-order amplitudes: the cylinders' pulses add with their crank offsets (so
    orders that are multiples of the cylinder count dominate) on top of the crank orders."""
    comp = unit.compressor
    k = np.arange(1, count + 1)
    w = comp.pulse_width * width_scale
    # a smooth gas pulse plus the sharper valve snap, an eighth of its width
    shape = np.exp(-0.5 * (2 * np.pi * k * w) ** 2) + 0.12 * np.exp(-0.5 * (np.pi * k * w / 4) ** 2)
    gains = np.array(cylinder_gain if cylinder_gain is not None else comp.cylinder_spread)
    offsets = np.arange(gains.size) / gains.size
    cyl = (gains[None, :] * np.exp(-2j * np.pi * np.outer(k, offsets))).sum(axis=1)
    out = strength * shape * cyl / gains.size
    orders = np.array(comp.orders[:count])
    out[: orders.size] += orders
    return np.asarray(out)


def order_count(unit: Unit, rot_hz: float, rate: int) -> int:
    return max(1, min(dsp.TABLE // 2 - 2, int(0.45 * rate / max(rot_hz, 1.0))))


@lru_cache(maxsize=256)
def _shapes(unit: Unit, n: int, rate: int) -> dict[str, np.ndarray]:
    """Per-unit spectral colours on this window's FFT grid (cached: they never change)."""
    f = dsp.freqs(n, rate)
    shell = dsp.modes_response(f, unit.compressor.shell) + 0.08 * dsp.band(f, 300.0, 6000.0)
    clack = np.abs(dsp.decay_response(f, 3200.0, 6.0)) + 0.5 * dsp.band(f, 150.0, 900.0)
    return {
        "shell": shell,
        "casing": dsp.band(f, 80.0, 2500.0) / np.sqrt(1.0 + f / 300.0),
        "hiss": dsp.band(f, 1500.0, 9000.0),
        "fan_noise": dsp.band(f, 60.0, 1800.0) / np.sqrt(1.0 + f / 400.0),
        "pump_noise": dsp.band(f, 200.0, 3000.0),
        "clack": dsp.unit_peak(clack, n),
    }


def valve_envelope(unit: Unit) -> np.ndarray:
    """One revolution of valve activity: discharge opens just before top dead centre,
    suction just after, per cylinder; a scroll discharges smoothly once per orbit."""
    x = np.arange(dsp.TABLE + 1) / dsp.TABLE
    comp = unit.compressor
    if comp.kind == "scroll":
        return 1.0 + 0.35 * np.cos(2 * np.pi * (x - 0.3))
    env = np.full_like(x, 0.45)  # gas flows all the time; the valves add bursts
    c = comp.cylinders
    for j in range(c):
        for at, strength in ((0.42, 1.0), (0.58, 0.6)):
            env += strength * np.exp(-(((x - (j + at) / c) % 1.0) / 0.045))
    return env


def build(unit: Unit, motion: Motion, t_s: float, rate: int) -> Scene:
    n = motion.speed.size
    tau = np.arange(n) / rate
    amps = _amps(unit)
    gate = motion.speed**2
    r = stream(unit.seed, unit.device_id, "machine", window_key(t_s), rate)
    fan_cycles = r.random() + unit.fan.rot_hz * np.cumsum(motion.speed) / rate
    scene = Scene(unit, motion, rate, n, tau, amps, dsp.db(unit.compressor.level_db), 1.0, gate,
                  fan_cycles)
    if motion.turning:
        _compressor(scene, r)
        _fans(scene, r)
        _transients(scene)
    _auxiliaries(scene, t_s, r)
    return scene


def _compressor(scene: Scene, r: np.random.Generator) -> None:
    unit, m, amps = scene.unit, scene.motion, scene.amps
    table = dsp.harmonic_table(pulse_harmonics(unit, order_count(unit, m.rot_hz, scene.rate)))
    scene.pulse_scale = 1.0 / dsp.table_rms(table)
    loud = m.load ** 1.5
    gain = amps["pulse"] * scene.pulse_scale
    scene.parts["pulse"] = dsp.lookup(table, m.cycles) * (gain * loud) * scene.gate
    shapes = _shapes(unit, scene.n, scene.rate)
    env = valve_envelope(unit)
    env /= dsp.table_rms(env)
    shell = dsp.shaped_noise(r, shapes["shell"], amps["valve"] * loud, scene.n)
    scene.parts["valve"] = shell * dsp.lookup(env, m.cycles) * scene.gate
    scene.parts["hum"] = _hum(scene, r)
    mean_gate = float(np.mean(scene.gate))
    flow = 1.3 if m.pulldown else 1.0
    scene.static += [(shapes["casing"], amps["casing"] * mean_gate),
                     (shapes["hiss"], amps["hiss"] * flow * mean_gate)]
    if m.second:
        cycles2 = r.random() + m.rot_hz * unit.compressor.second_ratio * scene.tau
        scene.parts["second"] = dsp.lookup(table, cycles2) * (gain * 0.7) * scene.gate


def hum_cycles(scene: Scene, phase: float) -> np.ndarray:
    m, comp = scene.motion, scene.unit.compressor
    electrical = m.rot_hz * comp.poles / 2 if comp.inverter_hz else m.mains_hz
    return phase + electrical * scene.tau


def _hum(scene: Scene, r: np.random.Generator) -> np.ndarray:
    """Hum while energised; the inrush of a start (5-7x current) makes it much louder until
    the rotor is up to speed (a soft starter limits the current, so less)."""
    h = stream(scene.unit.seed, scene.unit.device_id, "hum")
    amps = np.zeros(8, complex)
    amps[[1, 3, 5, 7]] = np.array([1.0, 0.45, 0.2, 0.1]) * np.exp(2j * np.pi * h.random(4))
    table = dsp.harmonic_table(amps)
    table /= dsp.table_rms(table)
    m, tau = scene.motion, scene.tau
    energised = (tau >= m.start_s) & (tau < m.stop_s)
    inrush = 1.5 if scene.unit.compressor.soft_start or scene.unit.compressor.inverter_hz else 5.0
    env = energised * (1.0 + inrush * (1.0 - m.speed))
    return dsp.lookup(table, hum_cycles(scene, r.random())) * env * scene.amps["hum"]


def fan_table(unit: Unit, rot_hz: float, rate: int) -> np.ndarray:
    """Fan orders: small 1x/2x from residual imbalance, blade pass and its harmonics."""
    b = unit.fan.blades
    amps = np.zeros(min(4 * b + 2, order_count(unit, rot_hz, rate)), complex)
    h = stream(unit.seed, unit.device_id, "fan").random(8)
    for order, a, ph in ((1, 0.08, h[0]), (2, 0.05, h[1]), (b, 1.0, h[2]), (2 * b, 0.45, h[3]),
                         (3 * b, 0.2, h[4]), (4 * b, 0.1, h[5])):
        if order <= amps.size:
            amps[order - 1] = a * np.exp(2j * np.pi * ph)
    return dsp.harmonic_table(amps)


def _fans(scene: Scene, r: np.random.Generator) -> None:
    unit, m = scene.unit, scene.motion
    table = fan_table(unit, unit.fan.rot_hz, scene.rate)
    scale = scene.amps["fan"] / dsp.table_rms(table)
    sound = dsp.lookup(table, scene.fan_cycles)
    if m.fans > 1:  # the second fan slips a little differently: the blade pass beats
        sound = (sound + dsp.lookup(table, r.random() + scene.fan_cycles * 1.006)) / math.sqrt(2)
    scene.parts["fan"] = sound * scale * np.sqrt(m.speed)
    shapes = _shapes(unit, scene.n, scene.rate)
    scene.static.append((shapes["fan_noise"], scene.amps["fan_noise"] * float(np.mean(m.speed))))


def _transients(scene: Scene) -> None:
    """Contactor clack at a start or stop inside the window, and a scroll's brief reverse
    rotation (gas flowing back through the wraps) after it stops."""
    m, n, rate = scene.motion, scene.n, scene.rate
    shapes = _shapes(scene.unit, n, rate)
    clacks = [(s, a) for s, a in ((m.start_s, 4.0), (m.stop_s, 2.0)) if 0 <= s < n / rate]
    if clacks:
        idx = np.array([int(s * rate) for s, _ in clacks])
        amp = np.array([a for _, a in clacks]) * scene.ref  # peaks a few times the running RMS
        scene.parts["clack"] = dsp.ring(n, rate, idx, amp, shapes["clack"])
    if scene.unit.compressor.kind == "scroll" and 0 <= m.stop_s < n / rate:
        after = np.clip(scene.tau - m.stop_s, 0.0, None)
        whoosh = np.where(scene.tau >= m.stop_s, np.exp(-after / 0.35), 0.0)
        noise = dsp.shaped_noise(stream(scene.unit.seed, "whoosh", n), shapes["shell"], 1.0, n)
        scene.parts["whoosh"] = noise * whoosh * scene.amps["valve"] * 1.5


def agitator_table(unit: Unit) -> np.ndarray:
    """Gear motor orders: 1x motor, the first-stage mesh (pinion teeth x motor speed) with
    its harmonic and sidebands at +-1x motor (the pinion's own run-out)."""
    z = unit.farm.gear_teeth[0]
    amps = np.zeros(3 * z + 2, complex)
    h = stream(unit.seed, unit.device_id, "agitator").random(6)
    for order, a, ph in ((1, 0.3, h[0]), (z, 1.0, h[1]), (z - 1, 0.15, h[2]), (z + 1, 0.15, h[3]),
                         (2 * z, 0.35, h[4])):
        amps[order - 1] = a * np.exp(2j * np.pi * ph)
    return dsp.harmonic_table(amps)


def _auxiliaries(scene: Scene, t_s: float, r: np.random.Generator) -> None:
    unit, m = scene.unit, scene.motion
    if m.agitator:
        table = agitator_table(unit)
        cycles = r.random() + unit.farm.agitator_motor_hz * scene.tau
        gain = scene.ref * dsp.db(-30) / dsp.table_rms(table)
        scene.parts["agitator"] = dsp.lookup(table, cycles) * gain
    if milking_at(unit, t_s):  # the plate cooler's water pump runs while milk flows
        rot = unit.farm.mains_hz * 0.965  # a 2-pole pump motor
        vanes = np.sin(2 * np.pi * (r.random() + 6 * rot * scene.tau))  # 6-vane impeller
        scene.parts["pump"] = vanes * scene.ref * dsp.db(-28)
        noise = _shapes(unit, scene.n, scene.rate)["pump_noise"]
        scene.static.append((noise, scene.ref * dsp.db(-24)))
