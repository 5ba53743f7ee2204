"""Nine audio faults of a kitchen's refrigeration unit, each added to the unit's own sound.

A fault's amplitudes grow as severity^1.5 (0.1 about 30 dB under 1.0: a trained ear
barely; 0.5 a few dB under the healthy sound: clear to a technician; 1.0 louder than it).
A fault draws its randomness from its own generator (unit, window start, fault), so
severity 0 leaves the healthy window untouched and a higher severity keeps the same events
and adds more (event sets are nested: an event happens when its mark is under a rate that
grows with severity) and louder ones. Only the refrigerant leak and a fan striking ice make
sound while the compressor is stopped.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.devtools.kitchen import machine as M
from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen import transients
from gateway.devtools.kitchen.operation import Moment, shaft_speed
from gateway.devtools.kitchen.units import Unit

Fault = Callable[[Unit, Moment, P.Frame, np.random.Generator, float, P.Mix], None]


def _revs(unit: Unit, m: Moment, fr: P.Frame, at: float, f0: float | None = None
          ) -> np.ndarray:
    """Times in the window when the crank passes `at` (revolutions) each turn."""
    f = f0 or m.shaft_rps
    phase = M.shaft_phase(unit, fr.t_s)
    k = np.arange(0, int(fr.n / fr.rate * f) + 2)
    times = (k + ((at - phase) % 1.0)) / f
    return times[times < fr.n / fr.rate]


def valve_reed_wear(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float,
                    mix: P.Mix) -> None:
    """A worn or cracked discharge reed: it flutters at its own frequency after each
    opening, slaps its seat harder (knocks at the cylinder rate) and leaks gas back."""
    p = M.compressor_level(unit)
    for j in range(unit.cylinders):
        times = _revs(unit, m, fr, (j / unit.cylinders + 0.42) % 1.0)
        reed = float(P.rng("reed", unit.device_id, unit.seed).uniform(700, 1600))
        flutter = P.modal_response(fr.f, [(reed, 8.0, 1.0)], fr.rate)
        amps = g.uniform(0.6, 1.4, times.size)
        mix.spec += P.knocks(fr, times, amps, flutter, 0.15 * s * p)
        mix.spec += P.knocks(fr, times, amps, M.shell_response(unit, fr), 0.18 * s * p)
    leak = P.to_time(P.noise_spectrum(g, fr.band(1500, 7000), 0.08 * s * p), fr.n)
    mix.time += leak * (1 + np.sin(2 * np.pi * unit.cylinders * m.shaft_rps * fr.t))


def liquid_slugging(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float,
                    mix: P.Mix) -> None:
    """Liquid refrigerant (or oil foam) in the cylinder: hydraulic knocks near top dead
    centre, most in the first minutes after a start or a defrost, some all the run long
    when the expansion valve overfeeds."""
    p = M.compressor_level(unit)
    settle = (20.0 + 240.0 * s) * (3.0 if m.tag == "pulldown" else 1.0)
    per_rev = s * (0.04 + 0.5 * np.exp(-m.since_s / settle))
    times = np.concatenate([_revs(unit, m, fr, j / unit.cylinders)
                            for j in range(unit.cylinders)])
    marks = g.random(times.size)
    marks[0] = 0.0  # always at least one knock in a faulty window
    hit = marks < per_rev
    low = [(unit.shell_modes[0][0], 5.0, 1.0), (unit.shell_modes[1][0], 12.0, 0.8),
           (180.0, 3.0, 0.6)]
    resp = P.modal_response(fr.f, low, fr.rate)
    mix.spec += P.knocks(fr, times[hit], g.uniform(0.5, 1.5, times.size)[hit], resp, 0.85 * s * p)


def broken_suspension_spring(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator,
                             s: float, mix: P.Mix) -> None:
    """The pump hangs crooked on its remaining springs and knocks the shell once a turn;
    it clatters at starts and stops as it swings."""
    p = M.compressor_level(unit)
    times = _revs(unit, m, fr, 0.7)
    marks = g.random(times.size)
    marks[0] = 0.0
    hit = marks < 0.3 + 0.7 * s
    amps = g.uniform(0.4, 1.6, times.size)[hit]
    resp = P.modal_response(fr.f, unit.shell_modes[:3], fr.rate)
    mix.spec += P.knocks(fr, times[hit], amps, resp, 0.33 * s * p)
    phase = M.shaft_phase(unit, fr.t_s)
    mix.time += 0.2 * s * p * 1.41 * np.sin(2 * np.pi * (m.shaft_rps * fr.t + phase))
    if m.since_s < 3.0:
        count = int(g.poisson(30 * s)) + 1
        burst = P.knocks(fr, g.uniform(0, min(fr.n / fr.rate, 3.0 - m.since_s), count),
                         g.uniform(0.5, 1.5, count), resp, 0.65 * s * p)
        mix.spec += burst


def compressor_bearing_wear(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator,
                            s: float, mix: P.Mix) -> None:
    """Worn motor or crank bearing: roughness rising through the kilohertz bands, swelling
    once a turn, and impacts at the outer race's defect rate ringing the bearing seat."""
    p = M.compressor_level(unit)
    phase = M.shaft_phase(unit, fr.t_s)
    rough = P.to_time(P.noise_spectrum(g, fr.band(1000, 6000), 0.12 * s * p), fr.n)
    mix.time += rough * (1 + 0.5 * np.sin(2 * np.pi * (m.shaft_rps * fr.t + phase)))
    rate = unit.bearing.bpfo * m.shaft_rps
    times = np.arange(g.random() / rate, fr.n / fr.rate, 1.0 / rate)
    times = times + g.normal(0, 0.1 / rate, times.size)
    seat = P.modal_response(fr.f, [(unit.bearing_res_hz, 15.0, 1.0)], fr.rate)
    amps = g.uniform(0.5, 1.5, times.size)
    mix.spec += P.knocks(fr, np.clip(times, 0, None), amps, seat, 0.14 * s * p)


def start_component_failure(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator,
                            s: float, mix: P.Mix) -> None:
    """A failing start capacitor or run capacitor / relay: the field goes elliptic, so the
    motor hums hard at twice the line while running; starts growl for seconds and the relay
    chatters before it drops out."""
    p = M.compressor_level(unit)
    for k, a in ((2, 0.75), (4, 0.35), (6, 0.2)):
        mix.time += P.tone(k * m.mains_hz * fr.t + g.random(), a * s * p * 1.41)
    growl = transients.START_S + 2.5 * s
    if m.since_s < growl + 0.5:
        transients.start(unit, m, fr, g, mix, growl_s=growl)
        chatter = np.arange(int(12 * s) + 1) / g.uniform(15, 25)  # after the start, s
        at_all = chatter - m.since_s
        for at in at_all[(at_all >= 0) & (at_all < fr.n / fr.rate) & (chatter < growl)]:
            mix.spec += transients.click_spectrum(unit, fr, float(at), 1.0 * s * p)


def condenser_fan_fault(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float,
                        mix: P.Mix) -> None:
    """A bent blade or a worn fan bearing: the fan's own order rises (unbalance), blade-pass
    tones grow sidebands one fan order apart, a blade tip scrapes the shroud once a turn and
    the bearing adds roughness."""
    p = M.fan_level(unit)
    f, bpf = m.fan_rps, m.fan_rps * unit.fan_blades
    phase = M.fan_phase(unit, fr.t_s)
    mix.time += P.tone(f * fr.t + phase, 1.0 * s * p * 1.41)
    for side in (bpf - f, bpf + f):
        mix.time += P.tone(side * fr.t + g.random(), 0.4 * s * p * 1.41)
    k = np.arange(0, int(fr.n / fr.rate * f) + 1)
    times = (k + g.uniform(0, 0.05, k.size)) / f
    hit = g.random(k.size) < 0.2 + 0.8 * s
    hit[0] = True
    scrape = fr.modes([(2800.0, 3.0, 1.0), (5500.0, 4.0, 0.6)])
    mix.spec += P.knocks(fr, times[hit], g.uniform(0.5, 1.5, k.size)[hit], scrape, 0.8 * s * p)
    mix.spec += P.noise_spectrum(g, fr.band(1000, 5000), 0.3 * s * p)


def fan_ice_strike(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float,
                   mix: P.Mix) -> None:
    """Evaporator fan blades ticking on ice built up on the shroud (a blocked drain, a
    failed defrost): a tick per blade per turn, irregular; it runs while the compressor
    rests. An ice machine has no evaporator fan: there, a condenser fan blade strikes its
    bent shroud instead."""
    if unit.kind == "ice_machine":
        if not m.running:
            return
        f, blades, p = m.fan_rps, unit.fan_blades, M.fan_level(unit)
    else:
        if not M.evaporator_fan_on(unit, m):
            return
        f, blades = unit.evap_fan_rps * m.mains_hz / unit.mains_hz, unit.evap_blades
        p = P.spl(40.0 if unit.place in ("housing", "kitchen") else 30.0)
    k = np.arange(0, int(fr.n / fr.rate * f * blades) + 1)
    times = (k + g.uniform(-0.1, 0.1, k.size)) / (f * blades)
    hit = g.random(k.size) < 0.15 + 0.6 * s
    hit[0] = True
    tick = fr.modes([(1700.0, 10.0, 1.0), (3900.0, 14.0, 0.6)])
    amps = g.lognormal(0, 0.5, k.size)[hit]
    mix.spec += P.knocks(fr, np.clip(times[hit], 0, None), amps, tick, 3.0 * s * p)


def refrigerant_leak(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float,
                     mix: P.Mix) -> None:
    """Gas escaping at a flare nut or a Schrader core: a jet's hiss peaking at several kHz,
    weaker while stopped (the pressures have equalised lower) but never gone."""
    jet = float(P.rng("jet", unit.device_id, unit.seed).uniform(4000, 9000))
    shape = fr.resonance(jet, 1.2) * fr.band(800, 0.45 * fr.rate, 4)
    level = P.spl(55.0) * s * (1.0 if m.running else 0.6)
    mix.spec += P.noise_spectrum(g, shape, level)


def high_head_pressure(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, s: float,
                       mix: P.Mix) -> None:
    """Overcharge or a blocked coil: the motor labours (more slip on a fixed-speed unit, an
    inverter speeding up to keep capacity), the pulsation grows louder and the discharge
    hisses. Added as the labouring comb minus the healthy one."""
    p = M.compressor_level(unit)
    f0 = m.shaft_rps
    f1 = f0 * (1 + 0.05 * s) if unit.inverter else \
        shaft_speed(unit, m.mains_hz, m.load, m.head + 0.5 * s, m.tag)
    phase = M.shaft_phase(unit, fr.t_s)
    louder = P.db(5.0 * s)
    mix.time += 0.5 * p * (louder * M.compressor_comb(unit, f1, fr, phase)
                           - M.compressor_comb(unit, f0, fr, phase))
    mix.spec += P.noise_spectrum(g, fr.band(1000, 6000), 0.2 * s * p)


_FAULTS: dict[str, Fault] = {
    "valve_reed_wear": valve_reed_wear,
    "liquid_slugging": liquid_slugging,
    "broken_suspension_spring": broken_suspension_spring,
    "compressor_bearing_wear": compressor_bearing_wear,
    "start_component_failure": start_component_failure,
    "condenser_fan_fault": condenser_fan_fault,
    "fan_ice_strike": fan_ice_strike,
    "refrigerant_leak": refrigerant_leak,
    "high_head_pressure": high_head_pressure,
}
AUDIO_FAULTS: tuple[str, ...] = tuple(_FAULTS)
SOUNDS_WHILE_STOPPED = ("refrigerant_leak", "fan_ice_strike")


def add_fault(unit: Unit, m: Moment, fr: P.Frame, fault: str | None, severity: float,
              mix: P.Mix) -> None:
    if fault is None:
        return
    if fault not in _FAULTS:
        raise ValueError(f"unknown audio fault {fault!r}; expected one of {AUDIO_FAULTS}")
    if severity <= 0 or not (m.running or fault in SOUNDS_WHILE_STOPPED):
        return
    g = P.rng("audio-fault", unit.device_id, unit.seed, fr.t_s, fault)
    # amplitude as severity^1.5: 0.1 sits some 30 dB under 1.0, barely there
    _FAULTS[fault](unit, m, fr, g, min(1.0, float(severity)) ** 1.5, mix)
