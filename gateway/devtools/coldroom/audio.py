"""The microphone's window: the healthy machine's voice (compressor orders through the housing
and pipework, valve impacts, gas-flow noise, motor hum and slot whine, the condenser fan), the
fault's additions (faults.py), then the room and the microphone (room.py).

The voice is assembled as parts a fault can change before it is rendered: the compressor's
shaft orders, the fan's orders, a spectrum of noise and impacts, tonal lines, and a modulation
of the whole machine sound (speed during a start, rocking, torque pulsation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.coldroom import motor as motors
from gateway.devtools.coldroom import room as rooms
from gateway.devtools.coldroom.moment import Moment, moment_for, response
from gateway.devtools.coldroom.operation import working_hours
from gateway.devtools.coldroom.pieces import (
    TABLE,
    band,
    impulse_spectrum,
    modal_gain,
    noise_spectrum,
    order_wave,
    pink,
    rng_for,
    smooth_gains,
    tone,
)


@dataclass
class Voice:
    """The machine's sound at 1 m (Pa) while it is being assembled."""
    level: float  # the compressor's level now (wear, load)
    orders: np.ndarray  # compressor shaft orders, complex, after the housing
    fan_orders: np.ndarray  # condenser fan orders
    spectrum: np.ndarray  # noise and impacts, scaled by `modulation` when rendered
    standing: np.ndarray  # sound that goes on when the compressor stops (a leak)
    wave: np.ndarray  # tonal lines, scaled by `modulation`
    hum: np.ndarray  # magnetic lines: follow the supply, not the shaft
    modulation: np.ndarray  # multiplies the machine's sound


def housing(unit, freqs: np.ndarray) -> np.ndarray:
    """How the shell radiates what happens inside it: a broad radiation efficiency and the
    shell's modes."""
    return 0.35 * band(freqs, 150.0, 9000.0, 1) + modal_gain(freqs, unit.machine.shell_modes)


def order_count(m: Moment) -> int:
    return int(min(TABLE // 4, 0.47 * m.rate / max(m.shaft_hz, 1.0)))


def healthy_voice(unit, m: Moment, rng) -> Voice:
    machine = unit.machine
    count = order_count(m)
    at_orders = np.arange(count) * m.shaft_hz
    level = machine.level_pa * m.state.wear * (0.55 + 0.45 * m.state.load)
    orders = level * machine.gas_orders(count) * (housing(unit, at_orders)
                                                  + modal_gain(at_orders, machine.pipe_modes))
    orders[1] += 0.05 * level * np.exp(1j * rng_for(unit.device_id, "1x").uniform(0, 6.3))
    if machine.family == "reciprocating" and count > 2:
        orders[2] += 0.06 * level  # second-order inertia of the pistons
    flow = response(unit, m, "flow", lambda: pink(m.freqs, 1000.0, -3.0) * np.abs(
        housing(unit, m.freqs)))
    spectrum = noise_spectrum(rng, m.n, m.rate,
                              flow * (machine.flow_pa * m.state.load * m.state.wear))
    spectrum += valve_impacts(unit, m, rng, level / machine.level_pa)
    fan = unit.fan
    spectrum += noise_spectrum(rng, m.n, m.rate, fan.broadband_pa * response(
        unit, m, "fan", lambda: band(m.freqs, 0.7 * fan.blades * fan.hz, 2500.0, 1)))
    return Voice(level, orders, unit.fan.orders(int(min(200, 0.45 * m.rate / unit.fan.hz))),
                 spectrum, np.zeros_like(spectrum), np.zeros(m.n), motor_hum(unit, m),
                 (m.speed / max(m.shaft_hz, 1e-9)) ** 2)


def valve_impacts(unit, m: Moment, rng, scale: float) -> np.ndarray:
    """Valves (or contacts) hitting at their angles every revolution, each a little
    different (cycle-to-cycle variation of pressure and reed motion)."""
    machine = unit.machine
    first, last = m.rev_span()
    targets = (np.arange(first, last)[:, None] + machine.impact_angles()[None, :]).ravel()
    targets = targets + 0.003 * rng.standard_normal(targets.size)
    times = m.times_at_revs(targets)
    peaks = machine.impact_pa * scale * smooth_gains(rng, targets.size, 0.3)
    ring_hz, q = machine.valve_ring
    spec = impulse_spectrum(m.n, m.rate, times[times >= 0], peaks[times >= 0], ring_hz, q)
    return spec * response(unit, m, "valve", lambda: modal_gain(m.freqs, [(ring_hz, q, 1.0)])
                           + 0.3 * housing(unit, m.freqs))


def motor_hum(unit, m: Moment) -> np.ndarray:
    """Magnetic lines while the motor is energised, louder during the inrush of a start."""
    energised = np.ones(m.n) if m.running else np.zeros(m.n)
    if m.start_at is not None:
        energised = (m.t >= m.start_at) * (1.0 + motors.inrush(unit.motor, m.t, m.start_at))
    if m.stop_at is not None:
        energised = (m.t < m.stop_at).astype(float)
    if not energised.any():
        return energised
    phases = rng_for(unit.device_id, "hum").uniform(0, 2 * np.pi, 8)
    lines = np.zeros(m.n)
    for (freq, amp), phase in zip(motors.hum_lines(unit.motor, m.mains_hz, m.shaft_hz), phases,
                                  strict=False):
        if freq < 0.47 * m.rate:
            lines += amp * tone(freq, m.t, phase)
    return lines * energised


def render_voice(unit, m: Moment, voice: Voice) -> tuple[np.ndarray, np.ndarray]:
    """The machine's sound at 1 m, in Pa, as (samples, spectrum) to be summed: noise and
    impacts stay a spectrum unless the modulation changes over the window."""
    if not m.running:
        return np.zeros(m.n), voice.standing
    sound = order_wave(m.revs, voice.orders) + voice.wave
    fan_revs = unit.fan.hz * (m.t_s % 1000.0 + m.t)
    sound += order_wave(fan_revs, voice.fan_orders) * np.minimum(1.0, m.speed / max(
        m.shaft_hz, 1e-9))
    steady = float(voice.modulation[0])
    if np.all(voice.modulation == steady):
        return sound * steady + voice.hum, voice.standing + voice.spectrum * steady
    sound += np.fft.irfft(voice.spectrum, m.n)
    return sound * voice.modulation + voice.hum, voice.standing


def scene_window(unit, m: Moment, voice: Voice, rng) -> np.ndarray:
    """Machine, room and microphone: the recorded samples."""
    t_abs = m.t_s + m.t
    machine, spectrum = render_voice(unit, m, voice)
    machine = machine + rooms.neighbour_wave(unit.room, t_abs, m.t_s)
    busy = working_hours(unit.duty, m.t_s)
    ambient = response(unit, m, "ambient", lambda: rooms.ambient_density(unit.room, m.freqs))
    spectrum = np.fft.rfft(machine) + spectrum + noise_spectrum(rng, m.n, m.rate, ambient)
    spectrum += rooms.event_spectrum(unit.room, rng, m.n, m.rate, m.freqs, busy, m.t)
    paths = [response(unit, m, f"mic{c}", lambda c=c: rooms.mic_path(unit.mic, m.freqs, c))
             for c in range(unit.mic.channels)]
    return rooms.microphone(unit.mic, spectrum, paths, m.n, rng)


def moment(unit, t_s: float, running: bool | None, seconds: float) -> Moment:
    return moment_for(unit, t_s, unit.audio_rate, seconds, running)
