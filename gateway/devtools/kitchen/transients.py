"""What happens at the edges of a run and inside an ice machine's cycle: the start relay's
click, the locked-rotor growl of the inrush and the pump rocking on its springs at a start;
the rundown and the clunk at a stop; a freezer's defrost; the water pump, the fill valve,
the hot-gas valve and the ice slab dropping into the bin.

A window sees these only when it begins within a few seconds of the event, as a real box
sampling on its own clock does.
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen.machine import distance_gain
from gateway.devtools.kitchen.operation import Moment
from gateway.devtools.kitchen.units import Unit

START_S = 0.35  # inrush until the start winding drops out
STOP_S = 0.8  # rundown of a small hermetic pump against its head pressure


def _thump(fr: P.Frame, unit: Unit, at: float, amp: float) -> np.ndarray:
    """The pump swinging on its internal springs and knocking the shell's low modes."""
    modes = [(45.0 + unit.suspension_hz * 3, 4.0, 1.0), (unit.shell_modes[0][0], 8.0, 0.5)]
    return P.ring_spectrum(fr.n, fr.rate, np.array([at]), np.array([amp]),
                           P.modal_response(fr.f, modes, fr.rate))


def start(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix,
          growl_s: float = START_S) -> None:
    """The growl: locked-rotor current makes the stator hum hard at twice the line with a
    rough, beating texture until the rotor is up to speed."""
    if not m.running or m.since_s >= growl_s + 0.5:
        return
    p = P.spl(unit.level_db + 12) * distance_gain(unit)
    t = fr.t + m.since_s
    env = np.clip(1.0 - t / growl_s, 0.0, 1.0) ** 0.5
    rough = 1.0 + 0.5 * np.sin(2 * np.pi * 7.0 * t)
    mix.time += p * env * rough * np.sin(2 * np.pi * 2 * m.mains_hz * fr.t + g.random() * 6.3)
    click = growl_s - m.since_s  # the relay dropping the start winding out
    if 0 <= click < fr.n / fr.rate:
        mix.spec += click_spectrum(unit, fr, click, 0.3 * p)
    if m.since_s < 0.05:
        mix.spec += _thump(fr, unit, 0.02, 0.4 * p)


def click_spectrum(unit: Unit, fr: P.Frame, at: float, rms_amp: float) -> np.ndarray:
    modes = [(2600.0, 12.0, 1.0), (5200.0, 15.0, 0.6)]
    spec = P.ring_spectrum(fr.n, fr.rate, np.array([at]), np.array([1.0]),
                           fr.modes(modes))
    return P.scaled(spec, fr.n, rms_amp * 0.05)


def stop(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """Rundown: the shaft slows against the head pressure in under a second; the pump then
    rocks back on its springs with a clunk."""
    if m.running or m.since_s >= STOP_S + 0.5:
        return
    p = P.spl(unit.level_db) * distance_gain(unit)
    t = fr.t + m.since_s
    left = np.clip(1.0 - t / STOP_S, 0.0, 1.0)
    speed = m.shaft_rps * left
    cycles = np.cumsum(speed) / fr.rate + g.random()
    mix.time += 0.5 * p * left * np.sin(2 * np.pi * unit.cylinders * cycles)
    clunk = STOP_S - m.since_s
    if 0 <= clunk < fr.n / fr.rate:
        mix.spec += _thump(fr, unit, clunk, 0.6 * p)


def defrost(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """A freezer's electric defrost, faint through the cold-room wall: meltwater dripping
    into the drain pan and sizzling on the heater, the coil ticking as it warms."""
    if not m.defrost or unit.kind != "walkin_freezer":
        return
    near = unit.place in ("housing", "kitchen")
    p = P.spl(34.0 if near else 26.0)
    mix.add_noise(fr.band(2000, 7000), 0.5 * p)
    count = int(g.poisson(3.0 * fr.n / fr.rate))
    drops = fr.modes([(1100.0, 15.0, 1.0), (2900.0, 20.0, 0.5)])
    mix.spec += P.knocks(fr, g.uniform(0, fr.n / fr.rate, count), g.uniform(0.5, 1.5, count),
                         drops, 2.0 * p)


def ice_machine(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator,
                mix: P.Mix) -> None:
    """Freeze: the water pump's hum and water running over the evaporator plate. Harvest:
    the hot-gas valve's clunk and hiss, the fill valve, then the slab dropping into the bin."""
    if unit.kind != "ice_machine" or not m.running:
        return
    p = P.spl(unit.level_db) * distance_gain(unit)
    dur = fr.n / fr.rate
    if m.harvest_s < 0:
        mix.add_noise(fr.band(300, 6000) * fr.pink(500), 0.3 * p)
        mix.time += P.tone(2 * m.mains_hz * fr.t + g.random(), 0.04 * p)
        return
    mix.add_noise(fr.band(1000, 8000), 0.3 * p)  # hot gas
    if m.harvest_s < 25:
        mix.add_noise(fr.band(400, 5000), 0.25 * p)  # fill water
    if m.harvest_s < 0.5:
        mix.spec += click_spectrum(unit, fr, 0.5 - m.harvest_s, 2.0 * p)
    drop_at = 60.0 + 40.0 * P.rng("drop", unit.device_id, unit.seed).random()
    if drop_at - dur < m.harvest_s < drop_at + 2.0:
        start_in = max(0.0, drop_at - m.harvest_s)
        count = 60
        times = start_in + g.exponential(0.4, count)
        keep = times < dur
        ice = [(2200.0, 20.0, 1.0), (3900.0, 25.0, 0.7), (6100.0, 30.0, 0.4)]
        resp = fr.modes(ice)
        spec = P.ring_spectrum(fr.n, fr.rate, times[keep], g.uniform(0.2, 1.0, count)[keep],
                               resp)
        mix.spec += P.scaled(spec, fr.n, 1.5 * p)
