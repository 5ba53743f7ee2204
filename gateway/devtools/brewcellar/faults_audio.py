"""The ten audio faults, each as a refrigeration technician would hear it.

Severity scales the physical size of the fault (amplitude of what it adds, how often it
happens); 0.1 is the first hint, 1.0 plainly broken. Faults add sound at the machine (before the
room and the microphone) and may change the healthy compressor's loudness; they never draw from
the healthy window's noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from .bearing import defect_rates
from .dsp import band, cycles, db, harmonic_table, lookup, rfft_freqs, smooth_random, table_index
from .fault_parts import FaultContext, FaultSound, dip, rev_window, rung_impacts
from .keys import unit_interval
from .machine import cylinders
from .plant import FAN_EXTRA_M, fan_hz
from .unit import Unit


def _fixed(ctx: FaultContext, part: str) -> float:
    """A number in [0, 1) fixed per unit and fault (which cylinder broke, the squeal's pitch)."""
    return unit_interval("fault-fixed", ctx.name, part, ctx.frame.unit.device_id,
                         ctx.frame.unit.seed)


def _below_nyquist(ctx: FaultContext, hz: float) -> float:
    return min(hz, 0.4 * ctx.frame.rate)


def discharge_valve_leak(ctx: FaultContext) -> FaultSound:
    """A broken discharge reed (a scroll: a leaking discharge check valve): hot gas hisses back
    into that cylinder once per turn while it expands, the loose fragment ticks at top dead
    centre, and the cylinder's own slam and gas pulse go weak."""
    unit, phase, sev = ctx.frame.unit, ctx.shaft_phase, ctx.severity
    crank, _ = cylinders(unit)
    at = float(crank[int(_fixed(ctx, "cylinder") * unit.cylinders)])
    blowback = ctx.noise("blowback", 1500.0, 8000.0) * rev_window(phase, at + 0.02, at + 0.55)
    times = ctx.shaft_times(at + 0.01)
    amps = db(-30.0) * sev * ctx.rng("ticks").uniform(0.3, 1.0, times.size)
    ticks = rung_impacts(ctx, times, amps, (_below_nyquist(ctx, 1.3 * unit.valve_hz),
                                            _below_nyquist(ctx, 2.1 * unit.valve_hz)),
                         (0.002, 0.0015))
    gain = 1.0 - 0.5 * sev * dip(phase, at, 0.012)
    return FaultSound(ctx.near * (db(-27.0) * sev * blowback + ticks), gain)


def liquid_floodback(ctx: FaultContext) -> FaultSound:
    """Liquid refrigerant reaching the cylinders: heavy hydraulic knocks late in compression on
    a growing share of strokes, a sloshing foam of oil and liquid in the crankcase, and reeds
    cushioned by liquid slamming softer."""
    unit, sev = ctx.frame.unit, ctx.severity
    crank, _ = cylinders(unit)
    times = np.concatenate([ctx.shaft_times(float(at) - 0.04) for at in crank])
    rng = ctx.rng("slugs")
    slugged = rng.random(times.size) < 0.1 + 0.5 * sev
    amps = np.where(slugged, db(-24.0) * sev * rng.uniform(0.4, 1.0, times.size), 0.0)
    knocks = rung_impacts(ctx, times, amps, (unit.housing_hz[0], 0.8 * unit.housing_hz[1], 160.0),
                          (0.025, 0.012, 0.05))
    slosh = ctx.noise("slosh", 150.0, 1500.0) * smooth_random(ctx.rng("foam"), ctx.frame.n, 8)
    return FaultSound(ctx.near * (knocks + db(-46.0) * sev * slosh), 1.0 - 0.2 * sev)


def undercharge(ctx: FaultContext) -> FaultSound:
    """Short of refrigerant: the expansion valve hunts (the compressor's load swells and sags
    over tens of seconds), flash gas bubbles and sizzles through the valve, and the compressor
    pumps thin suction gas, sounding lighter."""
    frame, sev = ctx.frame, ctx.severity
    period = 40.0 + 50.0 * _fixed(ctx, "hunt")
    hunt = np.sin(2.0 * np.pi * cycles(1.0 / period, frame.t_s, frame.t))
    rng = ctx.rng("bubbles")
    times = np.sort(rng.uniform(-0.02, frame.n / frame.rate, rng.poisson(40.0 * sev)))
    opening = 0.6 - 0.4 * np.sin(2.0 * np.pi * cycles(1.0 / period, frame.t_s, times))
    amps = db(-30.0) * rng.uniform(0.3, 1.0, times.size) * opening
    bubbles = rung_impacts(ctx, times, amps, (900.0, 1700.0, 2600.0), (0.004, 0.003, 0.002))
    hiss = ctx.noise("flash", 1000.0, 5000.0) * (1.0 - 0.5 * hunt)
    gain = (1.0 - 0.3 * sev) * (1.0 + 0.25 * sev * hunt)
    return FaultSound(ctx.near * (bubbles + db(-36.0) * sev * hiss), gain)


def _bearing_impact_times(ctx: FaultContext, rate_hz: float) -> np.ndarray:
    frame = ctx.frame
    first = frame.t_s * rate_hz
    ks = np.arange(math.floor(first) - 2, math.ceil(first + rate_hz * frame.n / frame.rate) + 1)
    jitter = ctx.rng("slip").normal(0.0, 0.08, ks.size) / rate_hz
    return (ks - first) / rate_hz + jitter


def compressor_bearing_wear(ctx: FaultContext) -> FaultSound:
    """A worn main bearing: a growl in the shell's upper resonances that swells once per turn,
    the rolling elements knocking over the damaged race, and a low rumble at 1x and 2x."""
    unit, frame, phase, sev = ctx.frame.unit, ctx.frame, ctx.shaft_phase, ctx.severity
    growl = ctx.noise("growl", 800.0, 5000.0) * (0.6 + 0.4 * np.cos(2.0 * np.pi * phase))
    times = _bearing_impact_times(ctx, defect_rates(unit, frame.op.shaft_hz).bpfo)
    amps = db(-28.0) * sev * ctx.rng("races").uniform(0.6, 1.0, times.size)
    knocks = rung_impacts(ctx, times, amps, (unit.housing_hz[2],
                                             _below_nyquist(ctx, 1.4 * unit.housing_hz[2])),
                          (0.003, 0.002))
    rumble = np.cos(2.0 * np.pi * phase) + 0.5 * np.cos(4.0 * np.pi * phase + 1.0)
    return FaultSound(ctx.near * (db(-30.0) * sev * growl + knocks + db(-38.0) * sev * rumble))


def condenser_fan_bearing(ctx: FaultContext) -> FaultSound:
    """A dry condenser-fan motor bearing: a wandering squeal of a few kilohertz that pulses with
    the fan's rotation, and a rumble at the fan's turning rate."""
    frame, sev = ctx.frame, ctx.severity
    speed = frame.op.fan_speeds[0]
    if speed <= 0.0:
        return FaultSound(np.zeros(frame.n))
    turn = 2.0 * np.pi * frame.phase(fan_hz(frame.unit, speed, 0), "fan0")
    pitch = _below_nyquist(ctx, 2000.0 + 3000.0 * _fixed(ctx, "squeal"))
    wander = 1.0 + 0.03 * np.sin(2.0 * np.pi * cycles(0.13, frame.t_s, frame.t)
                                 + 6.0 * _fixed(ctx, "wander"))
    squeal = np.sin(2.0 * np.pi * np.cumsum(pitch * wander) / frame.rate) * (0.7 + 0.3 * np.cos(
        turn))
    rumble = ctx.noise("rumble", 200.0, 1200.0) * (0.5 + 0.5 * np.cos(turn))
    far = speed**1.5 / (frame.unit.mic_distance_m + FAN_EXTRA_M)
    return FaultSound(far * sev * (db(-22.0) * squeal + db(-30.0) * rumble))


def pump_cavitation(ctx: FaultContext) -> FaultSound:
    """The glycol pump cavitating (low suction head, air or hot glycol): vapour bubbles
    collapsing at the impeller eye crackle like gravel, bunched at vane passing, over a surging
    flow rumble. Heard with the compressor off too: the pump never stops."""
    frame, sev = ctx.frame, ctx.severity
    unit = frame.unit
    rng = ctx.rng("collapse")
    vane = frame.phase(unit.pump_hz, "pump") * unit.pump_vanes
    candidates = rng.integers(0, frame.n, int(3000 * sev * frame.n / frame.rate) + 8)
    keep = rng.random(candidates.size) < 0.5 * (1.0 + np.cos(2.0 * np.pi * vane[candidates]))
    pops = np.zeros(frame.n)
    np.add.at(pops, candidates[keep], np.minimum(rng.exponential(1.0, int(keep.sum())), 3.0))
    shape = band(rfft_freqs(frame.n, frame.rate), 1000.0, 10000.0, 2)
    crackle = np.fft.irfft(np.fft.rfft(pops) * shape, frame.n)
    crackle /= math.sqrt(float(np.mean(crackle**2))) + 1e-12
    surge = ctx.noise("surge", 20.0, 200.0)
    return FaultSound(sev / unit.pump_distance_m * (db(-32.0) * crackle + db(-42.0) * surge))


def panel_rattle(ctx: FaultContext) -> FaultSound:
    """A loose cabinet panel (lost screws, a perished grommet) lifting and slapping the frame
    at the crests of the compressor's vibration, twice per turn, ringing its sheet-metal modes."""
    sev = ctx.severity
    at = _fixed(ctx, "angle")
    times = np.concatenate([ctx.shaft_times(at), ctx.shaft_times(at + 0.5)])
    rng = ctx.rng("slaps")
    touches = rng.random(times.size) < 0.35 + 0.65 * sev
    amps = np.where(touches, db(-24.0) * sev * rng.uniform(0.5, 1.0, times.size), 0.0)
    panel = 180.0 + 420.0 * _fixed(ctx, "panel")
    slaps = rung_impacts(ctx, times, amps, (panel, 2.8 * panel, _below_nyquist(ctx, 1900.0)),
                         (0.03, 0.015, 0.006))
    return FaultSound(ctx.near * slaps)


@lru_cache(maxsize=128)
def _coil_buzz_table(unit: Unit) -> np.ndarray:
    """A contactor's laminations buzzing at twice mains and its multiples (chattering armature)."""
    coeffs = np.zeros(12, dtype=np.complex128)
    coeffs[2::2] = np.array([1.0, 0.7, 0.5, 0.35, 0.25]) * np.exp(
        1j * np.linspace(0.0, 4.0, 5) * (1.0 + unit_interval("coil", unit.device_id, unit.seed)))
    return harmonic_table(coeffs / math.sqrt(float(np.sum(np.abs(coeffs) ** 2)) / 2.0), 1024)


def contactor_chatter(ctx: FaultContext) -> FaultSound:
    """A worn contactor (pitted contacts, weak coil voltage): the coil buzzes at twice mains,
    and in bouts the armature chatters, clicking and briefly breaking the motor current: the
    compressor's sound drops out for milliseconds and the contacts arc."""
    frame, sev = ctx.frame, ctx.severity
    buzz = lookup(_coil_buzz_table(frame.unit), table_index(frame.mains_phase(), 1024))
    rng = ctx.rng("bouts")
    bouts = smooth_random(rng, frame.n, 6) > 1.25 - 0.5 * sev
    clicks = np.sort(rng.uniform(0.0, frame.n / frame.rate, rng.poisson(25.0 * frame.n
                                                                         / frame.rate)))
    clicks = clicks[bouts[(clicks * frame.rate).astype(np.intp)]]
    opened = np.zeros(frame.n)
    for at in (clicks * frame.rate).astype(np.intp):
        opened[at:at + int(0.006 * frame.rate)] = 1.0
    amps = db(-28.0) * sev * rng.uniform(0.5, 1.0, clicks.size)
    snaps = rung_impacts(ctx, clicks, amps, (_below_nyquist(ctx, 3000.0), 1200.0,
                                             _below_nyquist(ctx, 5500.0)), (0.002, 0.004, 0.0015))
    arc = ctx.noise("arc", 2000.0, 9000.0) * opened
    sound = db(-30.0) * sev * buzz + snaps + db(-34.0) * sev * arc
    return FaultSound(ctx.near * sound, 1.0 - 0.7 * sev * opened)


def oil_starvation(ctx: FaultContext) -> FaultSound:
    """Too little oil on the running gear: dry metal scraping in the top octaves swelling with
    each stroke, stick-slip chirps where pistons reverse, and a light dry rap once per turn."""
    unit, phase, sev = ctx.frame.unit, ctx.shaft_phase, ctx.severity
    crank, _ = cylinders(unit)
    strokes = sum(dip(phase, float(at), 0.06) + dip(phase, float(at) + 0.5, 0.06) for at in crank)
    scrape = ctx.noise("scrape", 3500.0, 10000.0) * (0.3 + 0.7 * np.minimum(strokes, 1.0))
    times = np.concatenate([ctx.shaft_times(float(at), 2) for at in crank])
    rng = ctx.rng("chirps")
    amps = np.where(rng.random(times.size) < 0.5 + 0.5 * sev,
                    db(-32.0) * sev * rng.uniform(0.3, 1.0, times.size), 0.0)
    pitch = _below_nyquist(ctx, 3000.0 + 4000.0 * _fixed(ctx, "chirp"))
    chirps = rung_impacts(ctx, times, amps, (pitch, _below_nyquist(ctx, 1.37 * pitch)),
                          (0.01, 0.006))
    raps = ctx.shaft_times(float(crank[0]) + 0.5)
    rap = rung_impacts(ctx, raps, np.full(raps.size, db(-36.0) * sev), (unit.housing_hz[1],),
                       (0.01,))
    return FaultSound(ctx.near * (db(-30.0) * sev * scrape + chirps + rap))


def expansion_valve_hiss(ctx: FaultContext) -> FaultSound:
    """An expansion valve with a worn or wire-drawn seat (or a passing hot-gas bypass): a
    steady high hiss of refrigerant jetting through the gap, with a thin whistle on top."""
    frame, sev = ctx.frame, ctx.severity
    pitch = _below_nyquist(ctx, 4500.0 + 3000.0 * _fixed(ctx, "whistle"))
    wander = 1.0 + 0.01 * np.sin(2.0 * np.pi * cycles(0.3, frame.t_s, frame.t))
    whistle = np.sin(2.0 * np.pi * np.cumsum(pitch * wander) / frame.rate)
    whistle *= smooth_random(ctx.rng("flutter"), frame.n, 10)
    hiss = ctx.noise("jet", 3000.0, 11000.0)
    return FaultSound(ctx.near * sev * (db(-33.0) * hiss + db(-36.0) * whistle))


AUDIO_FAULT_FUNCS: dict[str, Callable[[FaultContext], FaultSound]] = {
    "discharge_valve_leak": discharge_valve_leak,
    "liquid_floodback": liquid_floodback,
    "undercharge": undercharge,
    "compressor_bearing_wear": compressor_bearing_wear,
    "condenser_fan_bearing": condenser_fan_bearing,
    "pump_cavitation": pump_cavitation,
    "panel_rattle": panel_rattle,
    "contactor_chatter": contactor_chatter,
    "oil_starvation": oil_starvation,
    "expansion_valve_hiss": expansion_valve_hiss,
}
