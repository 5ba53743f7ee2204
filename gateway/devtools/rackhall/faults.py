"""Audio faults of the monitored compressor, each with a physical severity (0..1 maps onto
a defect size, a flow, a clearance or an unbalance, stated per fault). Each returns what the
fault adds to the direct sound; severity 0 adds nothing (the caller skips it)."""

from __future__ import annotations

import numpy as np

from gateway.devtools.rackhall import motor
from gateway.devtools.rackhall.machine import event_times
from gateway.devtools.rackhall.operation import Moment
from gateway.devtools.rackhall.pieces import (
    band_shape,
    decaying_mode,
    freqs,
    modes_response,
    ringing,
    shaped_noise,
    tones,
)
from gateway.devtools.rackhall.units import Unit

AUDIO_FAULTS = ("bearing", "leak", "rattle", "imbalance", "electrical", "valve_leak",
                "slugging", "oil_starvation")


def impacts_at(order: float, shaft_hz: float, n: int, rate: int, rng: np.random.Generator,
               jitter: float = 0.01) -> np.ndarray:
    """Impact times at `order` x shaft speed, with the rolling elements' slip jitter."""
    period = 1.0 / (order * shaft_hz)
    count = int(n / rate / period) + 2
    times = rng.uniform(0, period) + period * np.arange(count)
    return times + rng.normal(0, jitter * period, count)


def bearing(unit, m, n, rate, severity, angle, rng, healthy):
    """Outer-race spall, width 2 mm x severity: rollers strike it at BPFO; the impact force
    grows as width^1.5 and rings the bearing housing."""
    f = freqs(n, rate)
    times = impacts_at(unit.bearing.orders()["bpfo"], m.shaft_hz, n, rate, rng)
    amps = 0.09 * severity ** 1.5 * rng.uniform(0.7, 1.3, len(times))
    kernel = decaying_mode(f, min(unit.bearing_res_hz, 0.42 * rate), 0.06, rate)
    return ringing(n, rate, times, amps, kernel)


def leak(unit, m, n, rate, severity, angle, rng, healthy):
    """A hole of 0.8 mm x severity at a joint of the discharge line: choked jet, mass flow and
    sound power go with the hole's area, so amplitude with its diameter; the jet's peak
    (Strouhal, ~60 kHz) is above the band, so the audible hiss rises with frequency."""
    shape = band_shape(freqs(n, rate), 2500, 0.5 * rate, 6.0, ref=8000.0)
    flutter = 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.3, 2) * np.arange(n) / rate)
    return shaped_noise(rng, n, rate, shape) * 0.01 * severity * flutter


def rattle(unit, m, n, rate, severity, angle, rng, healthy):
    """A pipe clamp with 1.5 mm x severity of free play: thrown across its gap once or twice
    a revolution (impact speed ~ gap x omega), a sharp contact click, then the part rings at
    its own frequencies."""
    f = freqs(n, rate)
    times = event_times(unit, m.shaft_hz, n, rate, angle + 1.0, 2)
    hits = rng.random(len(times)) < 0.35 + 0.6 * severity
    amps = 0.06 * severity * rng.uniform(0.5, 1.5, len(times)) * hits
    kernel = decaying_mode(f, unit.part_hz, 0.015, rate) + 0.4 * decaying_mode(
        f, 2.76 * unit.part_hz, 0.02, rate) + 1.5 * decaying_mode(  # the contact's click
        f, min(6000.0, 0.4 * rate), 0.3, rate)
    return ringing(n, rate, times + rng.normal(0, 4e-4, len(times)), amps, kernel)


def imbalance(unit, m, n, rate, severity, angle, rng, healthy):
    """Added unbalance of 3 x the rotor's residual x severity: the 1x force grows with it
    (F = U omega^2) and rocks the housing on its mounts, modulating its sound at 1x."""
    t = np.arange(n) / rate
    wobble = np.sin(2 * np.pi * m.shaft_hz * t + angle)
    line = 3 * severity * unit.harmonics[0] * 0.6 * wobble
    return line + 0.25 * severity * healthy * wobble


def electrical(unit, m, n, rate, severity, angle, rng, healthy):
    """Inverter lead: one output leg's gate drive failing, voltage unbalance 20 % x severity:
    negative-sequence torque at 2 fe grows and odd sidebands fc +/- fe, fc +/- 3 fe appear.
    Fixed stage: inter-turn short, 5 % of turns x severity: 2x mains grows, with sidebands
    of the rotor slots."""
    t = np.arange(n) / rate
    fe = motor.electrical_hz(unit, m.shaft_hz)
    u = 0.2 * severity
    lines = [(2 * fe, 0.03 * u), (4 * fe, 0.012 * u), (fe, 0.01 * u)]
    if unit.stage == 0:
        fc = unit.carrier_hz
        lines += [(fc - fe, 0.02 * u), (fc + fe, 0.02 * u), (fc - 3 * fe, 0.012 * u),
                  (fc + 3 * fe, 0.012 * u)]
    else:
        slot = unit.rotor_slots * m.shaft_hz
        lines += [(slot - 4 * fe, 0.012 * u), (slot + 4 * fe, 0.012 * u)]
    lines = [(hz, a) for hz, a in lines if hz < 0.45 * rate]
    return tones(t, [h for h, _ in lines], [a for _, a in lines],
                 list(rng.uniform(0, 2 * np.pi, len(lines))))


def valve_leak(unit, m, n, rate, severity, angle, rng, healthy):
    """A cracked discharge reed (recip) or a leaking discharge check seal (scroll), leak area
    15 % of the port x severity: hot gas jets back once per cylinder and revolution, during
    suction, a hiss gated at the cylinder's rate, and the cracked reed rings lower."""
    f, t = freqs(n, rate), np.arange(n) / rate
    shape = band_shape(f, 1500, 10_000, 3.0, ref=4000.0) * (0.5 + modes_response(f, unit.housing))
    gate = np.clip(np.sin(2 * np.pi * m.shaft_hz * t + angle + 2.0), 0, None) ** 2
    hiss = shaped_noise(rng, n, rate, shape) * gate * 0.03 * severity
    times = event_times(unit, m.shaft_hz, n, rate, angle, unit.cylinders)
    ring = ringing(n, rate, times, np.full(len(times), 0.04 * severity),
                   decaying_mode(f, 0.6 * min(unit.valve_hz, 0.4 * rate), 0.03, rate))
    return hiss + ring


def slugging(unit, m, n, rate, severity, angle, rng, healthy):
    """Liquid floodback, 5 % of the suction mass flow x severity: incompressible slugs hit
    at compression events now and then (probability with the liquid share), a hard broadband
    knock through the housing."""
    f = freqs(n, rate)
    per_rev = unit.cylinders
    times = event_times(unit, m.shaft_hz, n, rate, angle + 0.5, per_rev)
    hits = rng.random(len(times)) < 0.6 * severity
    amps = 0.25 * np.sqrt(severity) * rng.uniform(0.5, 1.5, len(times)) * hits
    kernel = (0.4 * decaying_mode(f, 900, 0.15, rate) + 0.3 * decaying_mode(f, 3500, 0.2, rate)) \
        * (0.4 + modes_response(f, unit.housing))
    return ringing(n, rate, times, amps, kernel)


def oil_starvation(unit, m, n, rate, severity, angle, rng, healthy):
    """Oil pump / oil level failing, film thinned to (1 - 0.9 x severity) of nominal:
    boundary friction at the crank and bearings, broadband rub noise 3-12 kHz at each
    revolution's loaded arc, and stick-slip squeal on a housing mode."""
    f, t = freqs(n, rate), np.arange(n) / rate
    arc = 0.3 + np.clip(np.sin(2 * np.pi * m.shaft_hz * t + angle), 0, None)
    rub = shaped_noise(rng, n, rate, band_shape(f, 3000, 12_000, 0.0)) * arc * 0.02 * severity
    squeal_hz = min(max(unit.housing[2][0], 1000.0), 0.4 * rate)
    bursts = (np.sin(2 * np.pi * rng.uniform(0.5, 2) * t + rng.uniform(0, 6)) > 0.3)
    squeal = 0.01 * severity * bursts * np.sin(2 * np.pi * squeal_hz * t
                                                * (1 + 0.003 * np.sin(9 * t)))
    return rub + squeal


_FAULTS = {"bearing": bearing, "leak": leak, "rattle": rattle, "imbalance": imbalance,
           "electrical": electrical, "valve_leak": valve_leak, "slugging": slugging,
           "oil_starvation": oil_starvation}


def audio_fault(kind: str, unit: Unit, m: Moment, n: int, rate: int, severity: float,
                angle: float, rng: np.random.Generator, healthy: np.ndarray) -> np.ndarray:
    if kind not in _FAULTS:
        raise ValueError(f"unknown audio fault {kind!r}; expected one of {AUDIO_FAULTS}")
    return _FAULTS[kind](unit, m, n, rate, severity, angle, rng, healthy)
