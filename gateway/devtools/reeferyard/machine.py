"""The unit's own healthy sound: scroll compressor, motor, condenser and evaporator fans,
solenoid clicks, defrost heater ticks.

Levels are in reference units (a loaded compressor is about 1 RMS at the reference mic
distance); the microphone chain scales them. Each part is kept separate so a fault can act on
the part its mechanism touches (a leaking tip seal changes the pulsation, not the fan).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import dsp
from . import schedule as sch
from .frame import Frame
from .keys import stream, uniform
from .unit import Unit

SPLIT = 3  # pulsation orders up to SPLIT are "low", above it "high" (tip seal leaks smooth them)


@dataclass
class Parts:
    """The healthy machine, part by part: time-domain arrays plus one stationary spectrum."""

    pulse_lo: np.ndarray
    pulse_hi: np.ndarray
    mech: np.ndarray
    hum: np.ndarray
    gas: np.ndarray
    clicks: np.ndarray
    spec: np.ndarray  # the fans (tones and broadband), rfft domain

    def compressor(self) -> np.ndarray:
        """Everything the compressor itself radiates (what a supply interruption silences)."""
        out: np.ndarray = self.pulse_lo + self.pulse_hi + self.mech + self.hum + self.gas
        return out

    def total(self) -> np.ndarray:
        out: np.ndarray = self.compressor() + self.clicks
        return out


def harmonic_amps(unit: Unit, shaft_hz: float, rate: int) -> np.ndarray:
    """Pulsation amplitude per shaft order (index 0 = order 1): the model's mix, the unit's
    scatter, a decaying tail, and emphasis of orders near the shell's resonances."""
    return _harmonic_amps(unit, round(shaft_hz, 1), rate)


@lru_cache(maxsize=512)
def _harmonic_amps(unit: Unit, shaft_hz: float, rate: int) -> np.ndarray:
    device_id, seed = unit.device_id, unit.seed
    top = int(min(60, 0.45 * rate / max(shaft_hz, 1.0)))
    k = np.arange(1, top + 1)
    base = list(np.array(unit.model.harmonics) * np.array(unit.harmonic_scatter))
    tail = [0.09 * (9.0 / kk) ** 1.2 * (0.5 + uniform("tail", device_id, seed, kk))
            for kk in range(len(base) + 1, top + 1)]
    a = np.array((base + tail)[:top])
    f = k * shaft_hz
    for fr in unit.housing_hz:
        a = a * (1.0 + 2.5 * np.abs(dsp.resonance(f, fr, 5.0)))
    out: np.ndarray = 0.5 * a / np.sqrt(np.sum(a * a))  # pulsation ~0.35 RMS when loaded
    return out


def unit_phases(unit: Unit, count: int, part: str) -> np.ndarray:
    """Fixed harmonic phases of a unit (its waveform's shape does not change window to window)."""
    out: np.ndarray = stream(part, unit.device_id, unit.seed).uniform(0, 2 * np.pi, count)
    return out


def pulsation(fr: Frame, amps: np.ndarray, scale_hi: float = 1.0, scale_lo: float = 1.0
              ) -> tuple[np.ndarray, np.ndarray]:
    """Discharge-pressure pulsation, low and high orders; unloaded scrolls barely compress."""
    ph = unit_phases(fr.unit, len(amps), "pulse-phase")
    orders = list(range(1, len(amps) + 1))
    lo = [a * scale_lo if k <= SPLIT else 0.0 for k, a in zip(orders, amps, strict=True)]
    hi = [a * scale_hi if k > SPLIT else 0.0 for k, a in zip(orders, amps, strict=True)]
    env = fr.head * (0.12 + 0.88 * fr.load)
    return (dsp.play(dsp.wavetable(lo, list(ph), orders), fr.shaft) * env,
            dsp.play(dsp.wavetable(hi, list(ph), orders), fr.shaft) * env)


def motor_hum(fr: Frame) -> np.ndarray:
    """Magnetostriction hum at twice the supply frequency, or inverter hum and carrier whine."""
    u = fr.unit
    current = 0.55 + 0.45 * fr.load
    if u.model.drive != "inverter":
        f2 = 2.0 * u.mains_hz
        tone = 0.09 * np.cos(2 * np.pi * dsp.cycles(f2, fr.t_s, fr.t))
        tone += 0.03 * np.cos(2 * np.pi * dsp.cycles(2 * f2, fr.t_s, fr.t) + 1.0)
        out: np.ndarray = tone * current
        return out
    tone = 0.06 * np.cos(4 * np.pi * fr.shaft)
    if u.carrier_hz < 0.45 * fr.rate:
        c = 2 * np.pi * dsp.cycles(u.carrier_hz, fr.t_s, fr.t)
        tone += 0.02 * np.cos(c) + 0.01 * np.cos(c + 4 * np.pi * fr.shaft)
        tone += 0.01 * np.cos(c - 4 * np.pi * fr.shaft)
    return tone * current


def gas_noise(fr: Frame) -> np.ndarray:
    """Suction/discharge gas flow noise through the shell's modes, pulsing once per orbit."""
    spec = dsp.white_spec(fr.rng("gas"), fr.n) * fr.shape(dsp.band, 150.0, 7000.0, 1)
    shape = np.ones_like(fr.f)
    for h in fr.unit.housing_hz:
        shape = shape + 3.0 * np.abs(fr.shape(dsp.resonance, h, 4.0))
    x = np.fft.irfft(spec * shape, fr.n)
    am = 1.0 + 0.4 * np.cos(2 * np.pi * fr.shaft + 0.7)
    out: np.ndarray = 0.12 * x * am * fr.head * (0.2 + 0.8 * fr.load)
    return out


def fans(fr: Frame) -> np.ndarray:
    """Condenser fan (on the front, loud) and evaporator fans (inside, through the wall) as a
    spectrum: blade-pass tones made at the low rate (they lie below 1 kHz), and one noise
    carrying both fans' broadband spectra (independent noises add in power)."""
    u = fr.unit
    lo = fr.low()
    tones = np.zeros(lo.n)
    power = np.zeros(len(fr.f))
    if fr.cond_fan_hz > 0:
        b = u.model.cond_blades
        tab = dsp.wavetable([0.05, 0.2, 0.08, 0.03], [0.0, 1.1, 2.3, 0.4], [1, b, 2 * b, 3 * b])
        level = (fr.cond_fan_hz / 24.0) ** 2.5
        tones += level * dsp.play(tab, dsp.cycles(fr.cond_fan_hz, lo.t_s, lo.t))
        noise = fr.shape(dsp.band, 60.0, 2500.0, 1) * fr.shape(dsp.pink, 200.0)
        power += (0.5 * level * noise) ** 2
    if fr.evap_fan_hz > 0:
        b = u.model.evap_blades
        tab = dsp.wavetable([0.012, 0.04, 0.012], [0.3, 0.0, 1.9], [1, b, 2 * b])
        level = (fr.evap_fan_hz / 24.0) ** 2.5
        for k, detune in enumerate((1.0, 1.013)):  # two fans, slightly apart: they beat
            ph = dsp.cycles(fr.evap_fan_hz * detune, lo.t_s, lo.t) + 0.37 * k
            tones += level * dsp.play(tab, ph)
        wall = np.abs(fr.shape(dsp.butter_lp, 900.0))
        power += (0.12 * level * fr.shape(dsp.band, 80.0, 1500.0, 1) * wall) ** 2
    spec = dsp.lift(tones, fr.n)
    if power.any():
        spec += dsp.white_spec(fr.rng("fans"), fr.n) * np.sqrt(power)
    return spec


def click_times(fr: Frame) -> list[tuple[float, float]]:
    """(time in window, amplitude) of solenoid clicks: the digital scroll's PWM valve at each
    load/unload transition, the economiser valve now and then, heater relay ticks in defrost."""
    u = fr.unit
    out: list[tuple[float, float]] = []
    span = fr.n / fr.rate
    if fr.running and u.model.drive == "digital":
        p = u.pwm_period_s
        on = sch.capacity(u, fr.t_s) * p
        u0 = float(sch.pwm_phase(u, np.array([fr.t_s]))[0])
        for edge, amp in ((0.0, 0.25), (on, 0.35)):
            t0 = (edge - u0) % p
            while t0 < span:
                out.append((t0, amp))
                t0 += p
    slot = int(np.floor(fr.t_s / 30.0))
    for s in (slot, slot + 1):
        if uniform("econ", u.device_id, u.seed, s) < (0.15 if fr.running else 0.0):
            t0 = s * 30.0 + 30.0 * uniform("econ-t", u.device_id, u.seed, s) - fr.t_s
            if 0 <= t0 < span:
                out.append((t0, 0.2))
    if fr.defrost and not fr.running:
        rng = fr.rng("heater")
        for t0 in rng.uniform(0, span, rng.poisson(0.4 * span)):
            out.append((float(t0), 0.03))
    return out


def clicks(fr: Frame) -> np.ndarray:
    """Each click: the plunger's sharp tick (kHz) and the valve body's duller knock."""
    ev = click_times(fr)
    if not ev:
        return np.zeros(fr.n)
    times = [t for t, _ in ev for _ in range(2)]
    amps = [a * w for _, a in ev for w in (1.0, 0.6)]
    freqs = [f for _ in ev for f in (min(3400.0, 0.4 * fr.rate), 950.0)]
    taus = [tau for _ in ev for tau in (0.004, 0.012)]
    return dsp.decays(times, amps, freqs, taus, fr.n, fr.rate)


def machine(fr: Frame) -> Parts:
    """The healthy unit in this window."""
    zero = np.zeros(fr.n)
    spec = fans(fr)
    if not fr.running:
        return Parts(zero, zero, zero, zero, zero, clicks(fr), spec)
    amps = harmonic_amps(fr.unit, fr.shaft_hz, fr.rate)
    lo, hi = pulsation(fr, amps)
    mech = 0.05 * np.cos(2 * np.pi * fr.shaft + 0.3) + 0.03 * np.cos(4 * np.pi * fr.shaft)
    return Parts(lo, hi, mech, motor_hum(fr), gas_noise(fr), clicks(fr), spec)
