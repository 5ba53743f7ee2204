"""Audio faults: each adds its physics to a unit's voice (audio.Voice) at a severity 0..1.
Severity is a physical quantity, fixed before any detector saw the sound, and every fault's
contribution grows with it (0 adds nothing). Every unit carries a fault in its own way
(unit.traits: which race, which side, which panel, how well its structure carries it).

- bearing: a spall on the outer (or inner) race of the shaft bearing; severity x 3 mm is its
  width, less the ~0.15 mm the contact patch bridges. Each rolling element hits it (BPFO /
  BPFI with 1 % slip jitter), the impacts ring the bearing housing's resonance; an inner-race
  defect turns in and out of the load zone once a revolution.
- leak: refrigerant escaping through a crack; severity = mass flow / 5 g/min (~0.8 mm hole at
  discharge pressure). Choked-jet hiss rising with frequency under a peak at Strouhal 0.2
  (ultrasonic for small holes), louder while the compressor runs on a discharge-side leak,
  and louder while it is off on a suction-side one (pressures equalise).
- rattle: a panel whose fastener lost its preload; severity = lost preload share (its gap
  closes from the panel's largest driven excursion in the window to a quarter of it).
  Contact when the driven motion exceeds the gap: intermittent impacts (once per revolution
  or per compression, with the beat of the drive), ringing the panel.
- imbalance: added unbalance; severity 1 = ten times the rotor's permissible residual (ISO
  1940 G6.3). 1x grows linearly, 2x and 3x from the mounts' stiffening (s^2, s^3), and the
  rocking housing modulates everything it radiates at 1x.
- electrical: broken rotor bars (severity 1 = three bars of the cage) or a stator inter-turn
  short (severity 1 = 5 % of a phase's turns); torque pulsation at twice slip frequency
  modulates the machine (sidebands 2 s f_mains around every order), sidebands around the
  twice-mains hum; a stator short raises the mains hum and its harmonics more.
- valve_reed: a cracked discharge reed on one cylinder (or the single discharge valve);
  severity = crack length / reed width. It flutters at its own frequency after opening
  and that cylinder pumps less (orders that are not multiples of the cylinder count grow).
- floodback: liquid refrigerant returning in the suction gas; severity = liquid mass share
  / 10 %. Hydraulic knocks on a share (0.8 s^2, scroll and screw 0.3 s^2) of compressions
  ringing the shell's low modes, and the crackle of flashing liquid.
- fan_damage: a bent or chipped condenser fan blade; severity = share of the blade's
  effective area lost (1 = 40 %). Fan orders between the blade-pass harmonics, fan 1x
  imbalance, and beyond severity 0.3 the blade tip touching its shroud once a fan turn.
- oil_starvation: lost lubricant film; severity = share of the film lost. Boundary friction
  raises the high-frequency floor (3-16 kHz), piston and bearing slap raise the upper orders,
  and past severity 0.3 a stick-slip squeal at a shell mode comes and goes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gateway.devtools.coldroom.audio import Voice, housing, order_count
from gateway.devtools.coldroom.machines import blade_orders
from gateway.devtools.coldroom.moment import Moment, response
from gateway.devtools.coldroom.pieces import (
    band,
    impulse_spectrum,
    modal_gain,
    noise_spectrum,
    rng_for,
    smooth_gains,
)


def _level(unit) -> float:
    return unit.machine.level_pa


def _rev_train(m: Moment, order: float, jitter: float, rng) -> np.ndarray:
    """Shaft angles (turns) of events `order` times a revolution, their spacing jittered."""
    first, last = m.rev_span()
    count = int((last - first) * order) + 2
    steps = (1.0 + jitter * rng.standard_normal(count)) / order
    return first + rng.uniform(0, 1 / order) + np.cumsum(steps)


def bearing(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    width_mm = max(0.0, 3.0 * severity - 0.15)
    if width_mm <= 0 or not m.running:
        return
    traits = unit.traits
    orders = unit.machine.bearing.orders()
    inner = traits.bearing_race == "inner"
    at = _rev_train(m, orders["bpfi" if inner else "bpfo"], 0.01, rng)
    peaks = 2.0 * _level(unit) * traits.transmission["bearing"] * width_mm / 2.85 * \
        smooth_gains(rng, at.size, 0.2)
    if inner:  # the defect passes through the load zone once a turn
        peaks *= 0.1 + np.maximum(0.0, np.cos(2 * np.pi * at)) ** 1.5
    times = m.times_at_revs(at)
    ring_hz, q, _ = traits.bearing_ring
    spec = impulse_spectrum(m.n, m.rate, times, peaks, ring_hz, q)
    voice.spectrum += spec * response(unit, m, "bearing", lambda: modal_gain(
        m.freqs, [traits.bearing_ring]) + 0.2 * housing(unit, m.freqs))


def leak(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    if severity <= 0:
        return
    peak_hz = 37_500.0 / np.sqrt(severity)  # Strouhal 0.2 of a sonic jet, d ~ sqrt(flow)
    f = m.freqs
    density = 1.2e-2 * _level(unit) * severity * unit.traits.transmission["leak"] * (
        f / 8000.0) / np.sqrt(1 + (f / peak_hz) ** 2) * band(f, 400, 40_000, 1)
    discharge = unit.traits.leak_side == "discharge"
    if m.running:
        voice.spectrum += noise_spectrum(rng, m.n, m.rate, density * (1.0 if discharge else 0.35))
    else:
        voice.standing += noise_spectrum(rng, m.n, m.rate, density * (0.45 if discharge else 0.7))


def rattle(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    if severity <= 0 or not m.running:
        return
    step = 4
    fixed = rng_for(unit.device_id, "rattle").uniform(0, 2 * np.pi, 3)
    revs, t = m.revs[::step], m.t[::step]
    # the panel's motion: driven at 1x and at the compression rate, plus its own random sway
    # (broadband excitation of its low mode, ~0.3 s correlation), with a slow beat
    sway = np.interp(t, np.linspace(0, t[-1], 8), rng.standard_normal(8))
    drive = (np.cos(2 * np.pi * revs + fixed[0]) + 0.45 * np.cos(
        2 * np.pi * unit.machine.events * revs + fixed[1]) + 0.25 * np.sin(
        2 * np.pi * 0.37 * (m.t_s % 1000 + t) + fixed[2]) + 0.35 * sway) * np.minimum(
        1.0, m.speed[::step] / max(m.shaft_hz, 1e-9))
    gap = (1.0 - 0.75 * severity) * float(drive.max())  # the closest approach closes first
    above = drive > gap
    hits = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    if hits.size == 0:
        return
    ends = np.searchsorted(np.flatnonzero(~above), hits)  # each contact's end
    leave = np.append(np.flatnonzero(~above), above.size)[ends]
    pressed = np.array([drive[a:b].max() - gap for a, b in zip(hits, leave, strict=True)])
    per_turn = m.rate / step / max(m.shaft_hz, 1e-9) / (2 * np.pi)  # samples per radian
    closing = (drive[hits] - drive[hits - 1]) * per_turn  # closing speed, ~0..2
    peaks = 0.6 * _level(unit) * unit.traits.transmission["rattle"] * (
        closing + pressed) * rng.uniform(0.6, 1.4, hits.size)
    modes = unit.traits.rattle_modes
    spec = impulse_spectrum(m.n, m.rate, t[hits], peaks, modes[0][0], modes[0][1])
    voice.spectrum += spec * response(unit, m, "rattle", lambda: modal_gain(m.freqs, modes))


def imbalance(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    if severity <= 0:
        return
    residual = rng_for(unit.device_id, "1x").uniform(0, 6.3)
    phase = residual + rng_for(unit.device_id, "added-mass").uniform(-1.0, 1.0)
    force = 0.35 * _level(unit) * unit.traits.transmission["imbalance"]
    for order, power, share in ((1, 1, 1.0), (2, 2, 0.3), (3, 3, 0.1)):
        if order < voice.orders.size:
            voice.orders[order] += force * share * severity ** power * np.exp(1j * order * phase)
    voice.modulation = voice.modulation * (1 + 0.25 * severity * np.minimum(
        1.0, unit.traits.transmission["imbalance"]) * np.cos(2 * np.pi * m.revs + phase))


def electrical(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    if severity <= 0 or not m.running:
        return
    bars = unit.traits.electrical == "rotor_bar"
    beat = 2.0 * m.slip * m.mains_hz  # twice slip frequency
    fixed = rng_for(unit.device_id, "electrical").uniform(0, 2 * np.pi, 4)
    gain = unit.traits.transmission["electrical"]
    depth = (0.12 if bars else 0.04) * severity * min(gain, 1.5)
    voice.modulation = voice.modulation * (1 + depth * np.cos(2 * np.pi * beat * m.t + fixed[0]))
    hum, two_f = unit.motor.hum_pa * gain, 2 * m.mains_hz
    side = (0.6 if bars else 0.2) * severity * hum
    lines = [(two_f - beat, side, fixed[1]), (two_f + beat, 0.8 * side, fixed[2])]
    if not bars:  # negative-sequence current: the twice-mains family grows
        lines += [(two_f * h, hum * severity * a, fixed[3] * h) for h, a in ((1, 1.5), (2, 1.0),
                                                                          (3, 0.8))]
    energised = (m.speed > 0).astype(float)
    for freq, amp, phase in lines:
        voice.hum = voice.hum + amp * np.cos(2 * np.pi * freq * m.t + phase) * energised


def valve_reed(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    if severity <= 0 or not m.running:
        return
    machine = unit.machine
    cylinder = int(rng_for(unit.device_id, "reed").integers(machine.events))
    weights = np.array(machine.event_weights)
    weights[cylinder] *= 1.0 - 0.5 * severity
    count = order_count(m)
    at_orders = np.arange(count) * m.shaft_hz
    path = housing(unit, at_orders) + modal_gain(at_orders, machine.pipe_modes)
    voice.orders += voice.level * (machine.gas_orders(count, weights)
                                   - machine.gas_orders(count)) * path
    first, last = m.rev_span()
    opens = m.times_at_revs(np.arange(first, last) + machine.event_angles[cylinder] + 0.02)
    opens = opens[opens >= 0]
    reed_hz = unit.traits.reed_hz
    bounces = (opens[:, None] + np.arange(5)[None, :] / reed_hz).ravel()
    peaks = (max(machine.impact_pa, 0.1 * _level(unit)) * 1.5 * severity
             * unit.traits.transmission["valve_reed"]
             * np.tile(0.65 ** np.arange(5), opens.size) * smooth_gains(rng, bounces.size, 0.25))
    spec = impulse_spectrum(m.n, m.rate, bounces, peaks, reed_hz, 6.0)
    voice.spectrum += spec * response(unit, m, "reed", lambda: modal_gain(
        m.freqs, [(reed_hz, 6.0, 1.0)]) + 0.3 * modal_gain(m.freqs, [(*machine.valve_ring, 1.0)]))


def floodback(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    if severity <= 0 or not m.running:
        return
    machine = unit.machine
    first, last = m.rev_span()
    events = (np.arange(first, last)[:, None] + np.array(machine.event_angles)[None, :]).ravel()
    share = min(1.0, (0.8 if machine.family in ("reciprocating", "rotary") else 0.3)
                * severity ** 2)  # a slug needs more liquid than the clearance volume holds
    knocks = events[rng.random(events.size) < share]
    gain = unit.traits.transmission["floodback"]
    low = machine.shell_modes[:2]
    peaks = 0.8 * _level(unit) * gain * severity * rng.uniform(0.5, 1.5, knocks.size)
    spec = impulse_spectrum(m.n, m.rate, m.times_at_revs(knocks), peaks, low[0][0], low[0][1])
    voice.spectrum += spec * response(unit, m, "knock", lambda: modal_gain(m.freqs, low))
    crackle = rng.uniform(0, m.n / m.rate, rng.poisson(300 * severity * m.n / m.rate))
    froth_hz = rng_for(unit.device_id, "froth").uniform(1000, 4000)
    spec = impulse_spectrum(m.n, m.rate, crackle, 0.15 * _level(unit) * gain * rng.uniform(
        0.2, 1.0, crackle.size), froth_hz, 3.0)
    voice.spectrum += spec * response(unit, m, "froth", lambda: modal_gain(
        m.freqs, [(froth_hz, 3.0, 1.0)]))


def fan_damage(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    if severity <= 0 or not m.running:
        return
    fan, gain = unit.fan, unit.traits.transmission["fan_damage"]
    count = voice.fan_orders.size
    voice.fan_orders = voice.fan_orders - 0.6 * severity * gain * blade_orders(
        fan, count, unit.traits.damaged_blade)
    for order, share in ((1, 3.0), (2, 1.0)):  # the fan's own unbalance
        if order < count:
            voice.fan_orders[order] += fan.tone_pa * gain * share * severity
    rub = severity - 0.3
    if rub > 0:
        fan_revs = fan.hz * (m.t_s % 1000.0 + m.t)
        turns = np.arange(np.ceil(fan_revs[0]), fan_revs[-1])
        times = (turns - fan_revs[0]) / fan.hz
        ring_hz = rng_for(unit.device_id, "shroud").uniform(1500, 4000)
        spec = impulse_spectrum(m.n, m.rate, times, 1.5 * _level(unit) * gain * rub
                                * rng.uniform(0.5, 1.5, times.size), ring_hz, 20.0)
        voice.spectrum += spec * response(unit, m, "shroud", lambda: modal_gain(
            m.freqs, [(ring_hz, 20.0, 1.0)]))


def oil_starvation(unit, m: Moment, voice: Voice, severity: float, rng) -> None:
    if severity <= 0 or not m.running:
        return
    gain = unit.traits.transmission["oil_starvation"]
    density = 2.5e-3 * _level(unit) * gain * severity * band(m.freqs, 3000, 16_000, 2)
    voice.spectrum += noise_spectrum(rng, m.n, m.rate, density)
    upper = np.arange(voice.orders.size) >= 3 * max(1, unit.machine.events)
    voice.orders[upper] *= 1.0 + 0.5 * severity * gain
    squeal = severity - 0.3
    fixed = rng_for(unit.device_id, "squeal")
    squeal_hz = float(fixed.uniform(1500, 5000))
    if squeal > 0 and rng.random() < 0.6:
        wander = 1 + 0.01 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * m.t)
        on = (np.sin(2 * np.pi * rng.uniform(0.5, 3) * m.t + rng.uniform(0, 6)) > -0.2)
        voice.wave = voice.wave + 0.3 * _level(unit) * gain * squeal * on * np.cos(
            2 * np.pi * squeal_hz * m.t * wander)


FAULTS: dict[str, Callable] = {
    "bearing": bearing, "leak": leak, "rattle": rattle, "imbalance": imbalance,
    "electrical": electrical, "valve_reed": valve_reed, "floodback": floodback,
    "fan_damage": fan_damage, "oil_starvation": oil_starvation,
}
