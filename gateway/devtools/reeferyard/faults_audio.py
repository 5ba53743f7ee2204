"""The audible faults, each realised by its own mechanism and timing.

Every fault returns what it adds to the healthy machine (a delta, possibly removing part of
a healthy component); it draws only from its own random stream, seeded independently of the
severity, so a higher severity makes the same events stronger or more frequent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from . import dsp
from . import schedule as sch
from .frame import Frame
from .keys import uniform
from .machine import Parts, harmonic_amps, pulsation
from .ringing import crossings, defect_times, ring

Fault = Callable[[Frame, Parts, float], np.ndarray]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def _scaled(x: np.ndarray, target: float) -> np.ndarray:
    """x brought to a target RMS (x's shape is fixed by the fault's own stream)."""
    r = _rms(x)
    out: np.ndarray = x * (target / r) if r > 0 else x
    return out


def tip_seal_leak(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """Worn tip seals / flank leak: gas slips back across the wraps, so the discharge pulse is
    smoothed (upper pulsation orders drop, the fundamental grows a little) and a hissing jet
    pulses once per orbit as each pocket reaches its peak pressure. Overall level barely
    changes: the character does."""
    if not fr.running:
        return np.zeros(fr.n)
    top = min(9000.0, 0.45 * fr.rate)
    jet = np.fft.irfft(dsp.white_spec(fr.rng("f-leak"), fr.n) * fr.shape(dsp.band, 2200.0, top, 2),
                       fr.n)
    pulse = (0.5 + 0.5 * np.cos(2 * np.pi * (fr.shaft - 0.15))) ** 4
    leak = 0.09 * s ** 1.2 * jet * pulse * fr.head * (0.1 + 0.9 * fr.load)
    out: np.ndarray = -0.6 * s * p.pulse_hi + 0.12 * s * p.pulse_lo + leak
    return out


def bearing_wear(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """Compressor main-bearing outer-race wear: impacts at the bearing's BPFO ring the shell's
    highest mode, plus a low growl of the worn bearing modulating the gas noise at 1x."""
    if not fr.running:
        return np.zeros(fr.n)
    rng = fr.rng("f-bearing")
    bpfo = fr.unit.comp_bearing.orders()["bpfo"] * fr.shaft_hz
    times = defect_times(bpfo, fr.n / fr.rate, 0.01, rng, rng.random())
    amps = 1.0 + 0.2 * rng.standard_normal(len(times))
    shell = fr.unit.housing_hz[-1]
    x = ring(times, amps, fr.n, fr.rate, fr.f, [(shell, 14.0, 1.0), (shell * 1.37, 10.0, 0.5)])
    growl = 0.25 * s * p.gas * np.cos(2 * np.pi * fr.shaft)
    return _scaled(x, 0.1 * s ** 1.3) + growl


def liquid_slugging(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """Liquid refrigerant reaching the scroll: incompressible slugs knock at the compression
    angle of some revolutions, most in the first minute after a start or after a digital
    scroll loads up again (liquid gathered while unloaded). Knocks are loud, as on site."""
    if not fr.running:
        return np.zeros(fr.n)
    rng = fr.rng("f-slug")
    revs = crossings(fr.shaft, fr.rate, 0.62)
    since = sch.since_start(fr.unit, fr.t_s) + revs
    idx = np.minimum((revs * fr.rate).astype(int), fr.n - 1)
    loading_up = np.zeros(len(revs))
    if fr.unit.model.drive == "digital":
        d = np.diff(fr.load, prepend=fr.load[0])
        rising = np.nonzero(d > 0)[0]
        if len(rising):
            recent = np.searchsorted(rising, idx, "right") - np.searchsorted(
                rising, idx - 0.8 * fr.rate, "left")
            loading_up = (recent > 0).astype(float)
    burst = 0.9 * np.exp(-since / 25.0) + 0.6 * loading_up
    prob = (0.25 * s ** 0.8 + s * burst) * (0.15 + 0.85 * fr.load[idx])
    u = rng.random(len(revs))
    hit = u < np.minimum(prob, 1.0)
    amps = (0.6 + 0.8 * rng.random(len(revs)))[hit] * 1.1 * s ** 0.7
    h0, h1 = fr.unit.housing_hz[0], fr.unit.housing_hz[1]
    out: np.ndarray = ring(revs[hit], amps, fr.n, fr.rate, fr.f,
                           [(h0, 9.0, 1.0), (h1, 12.0, 0.5), (260.0, 1.5, 0.6)])
    return out


def undercharge(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """Refrigerant undercharge: flash gas hisses through the expansion valve, bubbles gurgle in
    the liquid line (sight glass), and the starved scroll pumps less (weaker pulsation)."""
    if not fr.running:
        return np.zeros(fr.n)
    rng = fr.rng("f-undercharge")
    top = min(10000.0, 0.45 * fr.rate)
    hiss = np.fft.irfft(dsp.white_spec(rng, fr.n) * fr.shape(dsp.band, 1500.0, top, 2), fr.n)
    flutter = 1.0 + 0.5 * np.interp(fr.t, np.linspace(0, fr.t[-1] + 1e-9, 12),
                                    rng.standard_normal(12))
    span = fr.n / fr.rate
    count = int(rng.poisson(40.0 * span))
    t0, keep = rng.uniform(-0.05, span, count), rng.random(count) < (0.2 + 0.8 * s)
    freq, tau = rng.uniform(450.0, 1600.0, count), rng.uniform(0.004, 0.014, count)
    amp = 0.1 * s * rng.uniform(0.3, 1.0, count)
    bubbles = dsp.decays(t0[keep], amp[keep], freq[keep], tau[keep], fr.n, fr.rate)
    starved = -0.2 * s * p.pulse_lo - 0.1 * s * p.pulse_hi
    flow = 0.2 + 0.8 * fr.load  # an unloaded digital scroll draws (almost) no liquid
    out: np.ndarray = (0.25 * s ** 1.2 * hiss * np.abs(flutter) + bubbles) * flow + starved
    return out


def _stuck_pattern(fr: Frame, s: float) -> tuple[np.ndarray, np.ndarray]:
    """Segments of 60-400 ms in which a sticking valve plunger hangs (partly) open or shut;
    returns (per-sample stuck position 0..1 or -1 where it moves freely, segment starts)."""
    rng = fr.rng("f-stick")
    span = fr.n / fr.rate
    edges = np.cumsum(rng.uniform(0.06, 0.4, int(span / 0.06) + 2))
    edges = np.concatenate(([0.0], edges[edges < span]))
    stuck = rng.random(len(edges)) < 0.15 + 0.75 * s
    pos = np.where(stuck, rng.choice([0.0, 0.45, 0.7, 1.0], len(edges)), -1.0)
    seg = np.searchsorted(edges, fr.t, "right") - 1
    return pos[seg], edges[1:][stuck[1:] != stuck[:-1]]


def unloader_stick(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """The digital-scroll PWM (or economiser) solenoid valve sticks: loading no longer follows
    the controller's clean cycle but hangs part-way and jumps irregularly, the coil buzzes at
    twice the supply frequency on a plunger that will not seat, and it clicks as it frees."""
    if not fr.running:
        return np.zeros(fr.n)
    pos, frees = _stuck_pattern(fr, s)
    old = fr.load
    if fr.unit.model.drive == "digital":
        new = np.where(pos >= 0, old + s * (pos - old), old)
    else:  # the economiser port: injection flutters instead of the whole load
        new = np.where(pos >= 0, 1.0 - 0.3 * s * pos, 1.0)
    pulse = (p.pulse_lo + p.pulse_hi) * ((0.12 + 0.88 * new) / (0.12 + 0.88 * old) - 1.0)
    gas = p.gas * ((0.2 + 0.8 * new) / (0.2 + 0.8 * old) - 1.0)
    f2 = 2.0 * fr.unit.mains_hz
    buzz = np.cos(2 * np.pi * dsp.cycles(f2, fr.t_s, fr.t)) + 0.4 * np.cos(
        2 * np.pi * dsp.cycles(3 * f2, fr.t_s, fr.t))
    buzz *= 0.025 * s * (pos >= 0)
    tick = ring(frees, np.full(len(frees), 0.12 * s), fr.n, fr.rate, fr.f,
                [(min(3400.0, 0.4 * fr.rate), 8.0, 1.0)])
    out: np.ndarray = pulse + gas + buzz + tick
    return out


def condenser_fan_bearing(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """Condenser fan motor bearing: outer-race impacts at the fan bearing's BPFO ring the
    motor's end shield, and a dry bearing squeals with a wandering pitch, pulsing at 1x."""
    if fr.cond_fan_hz <= 0:
        return np.zeros(fr.n)
    rng = fr.rng("f-fanbearing")
    u = fr.unit
    bpfo = u.fan_bearing.orders()["bpfo"] * fr.cond_fan_hz
    times = defect_times(bpfo, fr.n / fr.rate, 0.012, rng, rng.random())
    shield = min(2600.0 + 2200.0 * uniform("shield", u.device_id, u.seed), 0.42 * fr.rate)
    x = _scaled(ring(times, 1.0 + 0.25 * rng.standard_normal(len(times)), fr.n, fr.rate, fr.f,
                     [(shield, 12.0, 1.0)]), 0.06 * s ** 1.3)
    sq = min(3000.0 + 3000.0 * uniform("squeal", u.device_id, u.seed), 0.4 * fr.rate)
    wander = 1.0 + 0.03 * np.interp(fr.t, np.linspace(0, fr.t[-1] + 1e-9, 6),
                                    rng.standard_normal(6))
    ph = (sq * fr.t_s) % 1.0 + np.cumsum(sq * wander) / fr.rate
    am = 0.5 + 0.5 * np.cos(2 * np.pi * dsp.cycles(fr.cond_fan_hz, fr.t_s, fr.t))
    squeal = 0.02 * max(s - 0.2, 0.0) ** 1.2 * am * np.sin(2 * np.pi * ph)
    out: np.ndarray = x + squeal
    return out


def evap_fan_ice(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """Ice on an evaporator fan: the iced blade ticks the shroud once per revolution (heard
    through the box wall) and the iced rotor is out of balance (1x and 2x hum). It runs with
    the evaporator fans, so it is heard with the compressor off on chilled cargo too."""
    if fr.evap_fan_hz <= 0:
        return np.zeros(fr.n)
    rng = fr.rng("f-ice")
    ph = dsp.cycles(fr.evap_fan_hz, fr.t_s, fr.t)
    revs = crossings(ph, fr.rate, 0.2)
    hit = rng.random(len(revs)) < 0.3 + 0.7 * s
    amps = 0.3 * s * (0.85 + 0.3 * rng.random(len(revs)))[hit]  # one lump: even ticks
    shroud = 1200.0 + 900.0 * uniform("shroud", fr.unit.device_id, fr.unit.seed)
    ticks = ring(revs[hit], amps, fr.n, fr.rate, fr.f, [(shroud, 6.0, 1.0), (480.0, 4.0, 0.4)])
    wall = fr.shape(dsp.butter_lp, 2200.0)
    ticks = np.fft.irfft(np.fft.rfft(ticks) * wall, fr.n)
    hum = 0.05 * s * (np.cos(2 * np.pi * ph) + 0.4 * np.cos(4 * np.pi * ph + 0.5))
    out: np.ndarray = ticks + hum
    return out


def panel_rattle(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """A loose front panel: when the frame's 1x motion closes the gap the panel slaps the
    frame (at a fixed shaft angle, and half a turn later when loaded hard), ringing its
    sheet-metal modes; more often as the fastener loosens (severity)."""
    if not fr.running:
        return np.zeros(fr.n)
    rng = fr.rng("f-rattle")
    u = fr.unit
    t1 = crossings(fr.shaft, fr.rate, 0.1)
    t2 = crossings(fr.shaft, fr.rate, 0.6)
    times = np.concatenate((t1, t2))
    ld = fr.load[np.minimum((times * fr.rate).astype(int), fr.n - 1)]
    second = np.concatenate((np.zeros(len(t1)), np.ones(len(t2))))
    prob = np.minimum(1.0, 1.6 * s) * (0.3 + 0.7 * ld) * np.where(second > 0, ld * s, 1.0)
    hit = rng.random(len(times)) < prob
    amps = 0.25 * (0.3 + 0.7 * s) * (0.5 + rng.random(len(times)))[hit]
    m0 = 180.0 + 300.0 * uniform("panel", u.device_id, u.seed)
    out: np.ndarray = ring(times[hit], amps, fr.n, fr.rate, fr.f,
                           [(m0, 18.0, 1.0), (m0 * 2.3, 14.0, 0.5), (1500.0, 5.0, 0.25)])
    return out


def contactor_chatter(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """A contactor with a weak coil or pitted contacts chatters in bursts: the supply drops
    out for part of each half cycle (the compressor's sound stutters at 2x mains), contacts
    arc (crackle) and the coil buzzes. Level hardly changes: the rhythm does."""
    if not fr.running:
        return np.zeros(fr.n)
    rng = fr.rng("f-chatter")
    span = fr.n / fr.rate
    count = int(rng.poisson(4.0 * span)) + 1
    starts, lens = rng.uniform(-0.1, span, count), rng.uniform(0.04, 0.25, count)
    keep = rng.random(count) < 0.3 + 0.7 * s
    burst = np.zeros(fr.n, bool)
    for a, b in zip(starts[keep], (starts + lens)[keep], strict=True):
        burst[max(int(a * fr.rate), 0):max(int(b * fr.rate), 0)] = True
    f2 = 2.0 * fr.unit.mains_hz
    half = dsp.cycles(f2, fr.t_s, fr.t) % 1.0
    gap = burst & (half < 0.25 + 0.35 * s)
    dip = -(0.3 + 0.5 * s) * gap * p.compressor()
    edges = np.nonzero(np.diff(gap.astype(np.int8)) > 0)[0] / fr.rate
    arcs = ring(edges, 0.12 * s * (0.5 + rng.random(len(edges))), fr.n, fr.rate, fr.f,
                [(min(2500.0, 0.4 * fr.rate), 1.2, 1.0)])
    buzz = 0.03 * s * burst * np.cos(2 * np.pi * dsp.cycles(f2, fr.t_s, fr.t))
    out: np.ndarray = dip + arcs + buzz
    return out


def phase_loss(fr: Frame, p: Parts, s: float) -> np.ndarray:
    """Single phasing: the motor runs on two phases with a reverse-rotating field, so it slips
    more (the whole harmonic series drops in pitch), its torque pulses at twice the supply
    frequency (modulating the pulsation) and it hums loudly at 2x, 4x, 6x mains. Behind an
    inverter a lost input phase shows as DC-bus ripple: the same torque ripple, less hum."""
    if not fr.running:
        return np.zeros(fr.n)
    u = fr.unit
    f2 = 2.0 * u.mains_hz
    inverter = u.model.drive == "inverter"
    drop = 0.004 if inverter else 0.035
    slow = replace(fr, shaft=(fr.shaft - fr.shaft[0]) * (1.0 - drop * s) + fr.shaft[0])
    amps = harmonic_amps(u, fr.shaft_hz, fr.rate)
    lo, hi = pulsation(slow, amps)
    ripple = 1.0 + 0.35 * s * np.cos(2 * np.pi * dsp.cycles(f2, fr.t_s, fr.t))
    hum_gain = (0.05 if inverter else 0.3) * s
    hum = sum(a * np.cos(2 * np.pi * dsp.cycles(k * f2, fr.t_s, fr.t) + k)
              for k, a in ((1, 1.0), (2, 0.45), (3, 0.2)))
    out: np.ndarray = (lo + hi) * ripple - (p.pulse_lo + p.pulse_hi) + hum_gain * hum
    return out


AUDIO_FAULT_FUNCS: dict[str, Fault] = {
    "tip_seal_leak": tip_seal_leak,
    "bearing_wear": bearing_wear,
    "liquid_slugging": liquid_slugging,
    "undercharge": undercharge,
    "unloader_stick": unloader_stick,
    "condenser_fan_bearing": condenser_fan_bearing,
    "evap_fan_ice": evap_fan_ice,
    "panel_rattle": panel_rattle,
    "contactor_chatter": contactor_chatter,
    "phase_loss": phase_loss,
}
