"""Nine audio faults, each the sound a technician would hear from that failure, added to
the unit's voice before the microphone. `severity` scales the fault's own sound (its
randomness comes from its own generator, so severity 0 adds exactly nothing); only a
refrigerant leak still hisses while the compressor is stopped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.devtools.rooftop.machine import COMPRESSOR_RMS, FAN_RMS, Voice
from gateway.devtools.rooftop.operation import Moment
from gateway.devtools.rooftop.pieces import (
    band,
    comb,
    filtered,
    freqs,
    harmonics_below,
    impulses,
    modes_response,
    peak,
    periodic_times,
    shaped_noise,
    times,
)
from gateway.devtools.rooftop.units import Unit

Fault = Callable[[Unit, Moment, Voice, np.random.Generator, float], np.ndarray]
KNOCK_PEAK = 0.3  # a severe slug's knock at the microphone, before its gain


def _ring(unit: Unit, voice: Voice, at: np.ndarray, amps: np.ndarray,
          modes: tuple[tuple[float, float, float], ...], by_peak: bool = False) -> np.ndarray:
    """Impacts ringing `modes`, at unit RMS (a dense train) or unit peak (sparse knocks,
    whose RMS says little about how loud each one is)."""
    x = impulses(voice.n, voice.rate, at, amps)
    y = filtered(x, modes_response(freqs(voice.n, voice.rate), modes))
    level = float(np.max(np.abs(y))) if by_peak else float(np.sqrt(np.mean(y * y)))
    return y / level if level > 0 else y


def compressor_bearing(unit: Unit, m: Moment, v: Voice, g: np.random.Generator,
                       s: float) -> np.ndarray:
    """A spalled race: an impact per rolling-element passage ringing the shell, then a
    roughness hiss as the wear spreads."""
    rate_hz = m.shaft_hz * unit.bearing.bpfo
    at = periodic_times(rate_hz, v.n / v.rate, float(v.turns[0]) * unit.bearing.bpfo, 0.015, g)
    clicks = _ring(unit, v, at, g.uniform(0.6, 1.0, at.size), unit.shell_modes)
    f = freqs(v.n, v.rate)
    rough = shaped_noise(g, v.n, v.rate, band(f, 2500, 10000, 1.5))
    return COMPRESSOR_RMS * (0.9 * s * clicks + 0.5 * s * s * rough)


def compression_wear(unit: Unit, m: Moment, v: Voice, g: np.random.Generator,
                     s: float) -> np.ndarray:
    """Recip: a cracked reed leaks each stroke (a hiss burst) and flutters; scroll: a worn
    tip seal leaks across the flanks once an orbit; rotary: a worn vane chatters."""
    f = freqs(v.n, v.rate)
    strokes = unit.cylinders * v.turns
    gate = np.clip(np.cos(2 * np.pi * strokes), 0, None) ** 2
    hiss = shaped_noise(g, v.n, v.rate, band(f, 1200, 7000, 1.2)) * gate
    if unit.kind.startswith("recip"):
        at = periodic_times(m.shaft_hz * unit.cylinders * 2, v.n / v.rate, 0.25, 0.06, g)
        flutter = _ring(unit, v, at, g.uniform(0.2, 1.0, at.size), unit.valve_modes)
        out = 0.8 * hiss + 0.7 * flutter
    elif unit.kind == "scroll":
        out = 1.0 * hiss + 0.3 * comb(v.turns, np.array([0.0, 0.6, 0.4]), g.uniform(0, 6, 3))
    else:
        at = periodic_times(m.shaft_hz, v.n / v.rate, float(v.turns[0]), 0.03, g)
        out = 0.5 * hiss + 0.9 * _ring(unit, v, at, g.uniform(0.5, 1.0, at.size),
                                       unit.shell_modes)
    return COMPRESSOR_RMS * s * out


def refrigerant_leak(unit: Unit, m: Moment, v: Voice, g: np.random.Generator,
                     s: float) -> np.ndarray:
    """Undercharge: flash gas bubbling in the liquid line while running; the leak's jet
    hisses whenever there is pressure (less once a stopped system has equalised)."""
    f = freqs(v.n, v.rate)
    jet = shaped_noise(g, v.n, v.rate, band(f, 3500, 14000, 1.5))
    if not m.running:
        return 0.004 * s * jet
    count = int(g.poisson(10 + 60 * s))
    pops = impulses(v.n, v.rate, g.uniform(0, v.n / v.rate, count), g.uniform(0.3, 1, count))
    gurgle = filtered(pops, peak(f, float(g.uniform(600, 1800)), 6.0))
    level = float(np.sqrt(np.mean(gurgle * gurgle))) or 1.0
    return 0.008 * s * jet + COMPRESSOR_RMS * 0.6 * s * gurgle / level


def floodback(unit: Unit, m: Moment, v: Voice, g: np.random.Generator, s: float
              ) -> np.ndarray:
    """Liquid reaching the compression: heavy knocks on some strokes, in episodes."""
    per_turn = unit.cylinders
    at = periodic_times(m.shaft_hz * per_turn, v.n / v.rate, float(v.turns[0]) * per_turn,
                        0.02, g)
    hit = g.random(at.size) < 0.15 + 0.5 * s
    episode = 0.5 + 0.5 * np.sin(2 * np.pi * g.uniform(0.3, 1.0) * at + g.uniform(0, 6.3))
    amps = np.where(hit, g.uniform(0.5, 1.0, at.size), 0.0) * episode
    low = tuple((f0, 8.0, 1.0) for f0, _, _ in unit.panel_modes[:2])
    knocks = _ring(unit, v, at, amps, low + unit.valve_modes, by_peak=True)
    return KNOCK_PEAK * s * knocks


def fan_imbalance(unit: Unit, m: Moment, v: Voice, g: np.random.Generator, s: float
                  ) -> np.ndarray:
    """A bent or chipped blade: the fan's own rotation tone, the blade-pass beating once a
    turn, and at worst a tick as the tip brushes the shroud."""
    rps, turns = m.fan_rps[0], v.fan_turns[0]
    if rps <= 0:
        return np.zeros(v.n)
    blades = unit.fans[0].blades
    count = harmonics_below(rps, v.rate / 2, blades + 2)
    amps = np.zeros(count)
    amps[:3] = [1.0, 0.4, 0.2][: min(3, count)]
    if count > blades:
        amps[blades - 2:blades + 1] += 0.5  # sidebands of the blade pass
    out = comb(turns, amps, g.uniform(0, 6.3, count))
    at = periodic_times(rps, v.n / v.rate, float(turns[0]), 0.005, g)
    tick = _ring(unit, v, at, np.ones(at.size), unit.panel_modes[-2:] + unit.valve_modes[:1])
    return FAN_RMS * s * (1.2 * out + max(0.0, s - 0.3) * 1.5 * tick)


def fan_bearing(unit: Unit, m: Moment, v: Voice, g: np.random.Generator, s: float
                ) -> np.ndarray:
    """A dry fan-motor bearing: a growl of narrow-band noise beating at its defect rate
    and a squeal that wanders."""
    rps = m.fan_rps[0]
    if rps <= 0:
        return np.zeros(v.n)
    f, t = freqs(v.n, v.rate), times(v.n, v.rate)
    centre = min(0.35 * v.rate, float(g.uniform(2500, 5000)))
    growl = shaped_noise(g, v.n, v.rate, peak(f, centre, 4.0))
    growl *= 1 + 0.7 * np.cos(2 * np.pi * 3.6 * v.fan_turns[0])  # ~BPFO of a 6203 per turn
    squeal_hz = centre * 1.3 * (1 + 0.01 * np.sin(2 * np.pi * 0.7 * t))
    squeal = np.sin(2 * np.pi * np.cumsum(squeal_hz) / v.rate)
    return FAN_RMS * s * (growl + 0.5 * s * squeal)


def panel_rattle(unit: Unit, m: Moment, v: Voice, g: np.random.Generator, s: float
                 ) -> np.ndarray:
    """A loose panel: driven at the compressor's strongest order it slaps its stop each
    cycle; the buzz comes and goes as the panel's motion crosses the clearance."""
    order = unit.cylinders if unit.kind.startswith("recip") else 2
    at = periodic_times(m.shaft_hz * order, v.n / v.rate, float(v.turns[0]) * order, 0.02, g)
    swing = 0.5 + 0.5 * np.sin(2 * np.pi * g.uniform(0.2, 0.8) * at + g.uniform(0, 6.3))
    amps = np.clip(swing - (0.6 - 0.5 * s), 0, None) + 0.05
    mode = unit.panel_modes[int(g.integers(len(unit.panel_modes)))]
    slaps = _ring(unit, v, at, amps, ((mode[0], 10.0, 1.0), (2200.0, 6.0, 0.6)))
    return COMPRESSOR_RMS * 0.8 * s * slaps  # dense (a slap a cycle): set by its RMS


def electrical_fault(unit: Unit, m: Moment, v: Voice, g: np.random.Generator, s: float
                     ) -> np.ndarray:
    """Fixed speed: a pitted contactor chatters (buzz bursts at 2x mains with harmonics);
    inverter: a shorted turn unbalances the phases (magnetic tones at 2x and 4x electrical
    frequency, PWM sidebands widened)."""
    t = times(v.n, v.rate)
    if not unit.pwm_hz:
        hum = 2 * unit.mains_hz
        bursts = shaped_noise(g, v.n, v.rate, band(freqs(v.n, v.rate), 2, 12, 2)) > 0.6
        buzz = np.sign(np.sin(2 * np.pi * hum * t + g.uniform(0, 6.3))) * bursts
        return 0.06 * s * filtered(buzz, band(freqs(v.n, v.rate), 80, 4000, 1))
    elec = m.shaft_hz * unit.poles / 2
    out = np.zeros(v.n)
    for hz, amp in ((2 * elec, 1.0), (4 * elec, 0.6), (unit.pwm_hz - 4 * elec, 0.5),
                    (unit.pwm_hz + 4 * elec, 0.5)):
        if 0 < hz < 0.45 * v.rate:
            out += amp * np.cos(2 * np.pi * hz * t + g.uniform(0, 6.3))
    return 0.035 * s * out


def high_head(unit: Unit, m: Moment, v: Voice, g: np.random.Generator, s: float
              ) -> np.ndarray:
    """A condenser fan failing (slowing to a locked-rotor hum) and the compressor
    labouring against the head pressure: its pulsation and gas noise grow."""
    fan_part = v.parts.get("fan0", np.zeros(v.n))
    fade = -min(1.0, 2.0 * s) * fan_part
    t = times(v.n, v.rate)
    locked = 0.004 * min(1.0, 2 * s) * np.cos(2 * np.pi * 2 * unit.mains_hz * t)
    labour = 0.6 * s * (v.parts.get("compressor", 0.0) + v.parts.get("motor", 0.0))
    return fade + locked + labour


AUDIO_FAULT_SOUNDS: dict[str, Fault] = {
    "compressor_bearing": compressor_bearing,
    "compression_wear": compression_wear,
    "refrigerant_leak": refrigerant_leak,
    "floodback": floodback,
    "fan_imbalance": fan_imbalance,
    "fan_bearing": fan_bearing,
    "panel_rattle": panel_rattle,
    "electrical_fault": electrical_fault,
    "high_head": high_head,
}
SOUNDS_WHILE_STOPPED = frozenset({"refrigerant_leak"})
