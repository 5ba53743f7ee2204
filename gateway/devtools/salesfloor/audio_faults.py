"""Audible faults of a plug-in unit, each added on top of the healthy sound.

Every fault's sound scales with severity (0 adds nothing, 0.1 is a trace under the healthy
sound, 1 is a clear fault about as loud as the compressor, its knocks louder) and draws from
a random stream of its own that does not depend on severity, so a stronger fault is the same
sound, louder or more frequent.
Impacts (knocks, pops, ticks) ring causally through the structure's resonances.
Compressor faults are silent while it is stopped; the fans' faults sound while their fan runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .machine_sound import condenser_fan_hz
from .mix import Mix
from .seeding import uniform
from .spectral import cycles_at, envelope_of, impulse_train, ringing
from .units import Unit


@dataclass(frozen=True)
class FaultContext:
    unit: Unit
    mix: Mix
    t_s: float
    severity: float
    rng: np.random.Generator
    shaft_hz: float  # 0 when the compressor is stopped
    condenser_fan: bool
    evaporator_fan: bool

    @property
    def level(self) -> float:
        return self.unit.compressor_level * self.severity

    def top(self, hz: float) -> float:
        """A band edge kept under the microphone's Nyquist frequency."""
        return min(hz, 0.45 * self.mix.rate)


def bearing_wear(c: FaultContext) -> None:
    """Worn crank or motor bearing: metal-on-metal grinding, millisecond scrapes at 1.5-6 kHz
    in about one millisecond of seven, loudest once per revolution where the load peaks,
    over a rough continuous rub."""
    m = c.mix
    chunk = max(1, m.rate // 1000)
    scraping = c.rng.random(m.frames // chunk + 1) < 0.15
    gate = np.repeat(scraping, chunk)[: m.frames] + 0.1
    load = 0.3 + envelope_of(1, cycles_at(c.t_s, m.frames, m.rate, c.shaft_hz), 0.5)
    grit = c.rng.standard_normal(m.frames) * gate * load
    m.add_filtered(grit * c.level * 2.5, m.band(1500.0, c.top(6000.0), order=2))


def valve_leak(c: FaultContext) -> None:
    """Worn or cracked discharge reed: gas blows back from the discharge side while the
    piston compresses, a hiss at 4-10 kHz gated once per revolution."""
    m = c.mix
    gas = c.rng.standard_normal(m.frames)
    stroke = envelope_of(1, cycles_at(c.t_s, m.frames, m.rate, c.shaft_hz, 0.25), 0.45)
    gain = m.band(c.top(4000.0) * 0.9, c.top(10000.0), order=3)
    m.add_filtered(gas * stroke * c.level * 1.2, gain)


def refrigerant_undercharge(c: FaultContext) -> None:
    """Short of refrigerant: flash gas in the liquid line gurgles and hisses through the
    capillary or expansion valve: bursts of bubble pops ringing at 1-3 kHz, coming and going."""
    m = c.mix
    seconds = m.frames / m.rate
    pops = np.zeros(m.frames)
    count = int(c.rng.poisson(120.0 * seconds))
    np.add.at(pops, c.rng.integers(0, m.frames, count), c.rng.uniform(0.3, 1.0, count))
    surge = np.interp(m.times, np.linspace(0, seconds, 5), c.rng.uniform(0.2, 1.0, 5))
    gain = ringing(m.freqs, 1800.0, 4.0) + 0.3 * m.band(800.0, c.top(5000.0))
    hiss = c.rng.standard_normal(m.frames) * 0.03
    m.add_impacts((pops + hiss) * surge * c.level * 5.0, gain)


def liquid_floodback(c: FaultContext) -> None:
    """Liquid refrigerant reaching the cylinder: incompressible slugs knock on some
    revolutions, heavy thuds ringing the shell's low modes. More revolutions knock, and
    harder, as the flooding grows; it comes in surges, stronger in some minutes."""
    m = c.mix
    revolutions = impulse_train(c.rng, m.frames, m.rate, c.shaft_hz, 0.002, c.t_s)
    at = np.flatnonzero(revolutions)
    surge = 0.5 + 0.5 * uniform("flood", c.unit.device_id, int(c.t_s // 60))
    knocks = np.zeros(m.frames)
    chance = c.rng.uniform(0.0, 1.0, at.size)
    hit = chance < 0.6 * c.severity * surge
    knocks[at[hit]] = c.rng.uniform(0.6, 1.0, int(hit.sum()))
    first, second = c.unit.shell_modes[0][0], c.unit.shell_modes[1][0]
    gain = ringing(m.freqs, 0.45 * first, 3.0) + 0.6 * ringing(m.freqs, second, 8.0)
    m.add_impacts(knocks * c.unit.compressor_level * (0.4 + 0.6 * c.severity) * 6.0, gain)
    churn = m.band(100.0, 800.0, order=2)  # liquid and foaming oil churned in the shell
    m.add_noise(churn, c.level * 0.3)


def loose_mounting(c: FaultContext) -> None:
    """Broken suspension spring or loose foot: the compressor body rocks at half order,
    hitting its stop on alternate revolutions; the knocks ring the base plate."""
    m = c.mix
    half = np.sin(2 * np.pi * cycles_at(c.t_s, m.frames, m.rate, 0.5 * c.shaft_hz))
    rattle = impulse_train(c.rng, m.frames, m.rate, 0.5 * c.shaft_hz, 0.02, c.t_s)
    rattle *= c.rng.uniform(0.5, 1.0, m.frames)
    ring = ringing(m.freqs, c.top(c.unit.mount_resonance_hz), 15.0) + ringing(
        m.freqs, 300.0, 3.0)
    m.add_wave(half * c.level * 0.8)
    m.add_impacts(rattle * c.level * 1.0, ring)


def condenser_fan_blade(c: FaultContext) -> None:
    """A cracked or bent condenser fan blade: the rotor is out of balance (a 1x fan line),
    the blade-pass tone is modulated once per turn, and the tip ticks on the shroud."""
    m = c.mix
    u = c.unit
    fan_hz = condenser_fan_hz(u, c.t_s)
    turn = cycles_at(c.t_s, m.frames, m.rate, fan_hz)
    once = np.sin(2 * np.pi * turn)
    bpf = np.sin(2 * np.pi * u.cond_fan_blades * turn)
    m.add_wave((once * 0.8 + bpf * 0.5 * once) * c.level)
    ticks = impulse_train(c.rng, m.frames, m.rate, fan_hz, 0.003, c.t_s)
    gain = ringing(m.freqs, c.top(3200.0), 10.0)
    m.add_impacts(ticks * c.level * 0.6, gain)


def squeal_hz(unit: Unit, rate: int) -> float:
    """Where a dry evaporator fan bearing squeals: a ring mode of the bearing's housing."""
    return min(2000.0 + 1500.0 * uniform("squeal", unit.device_id), 0.45 * rate)


def evaporator_fan_bearing(c: FaultContext) -> None:
    """A dry evaporator fan bearing squeals: a narrow tone near 2-3.5 kHz whose pitch
    wanders with the shaft's stick-slip, over a rumble at the fan's rotation."""
    m = c.mix
    u = c.unit
    pitch = squeal_hz(u, m.rate)
    wander = 1.0 + 0.02 * np.sin(2 * np.pi * 0.7 * m.times + 6.0 * uniform("wander", c.t_s))
    squeal = np.sin(2 * np.pi * np.cumsum(pitch * wander) / m.rate + c.rng.uniform(0, 6.3))
    flutter = 0.6 + 0.4 * np.sin(2 * np.pi * u.evap_fan_hz * m.times)
    rumble = np.sin(2 * np.pi * cycles_at(c.t_s, m.frames, m.rate, u.evap_fan_hz))
    m.add_wave((squeal * flutter * 0.35 + rumble * 0.3) * u.compressor_level * c.severity)


def contactor_chatter(c: FaultContext) -> None:
    """A contactor or start relay with a weak coil or pitted contacts: the armature buzzes
    at twice mains (100 or 120 Hz, rich in harmonics) and the contacts click irregularly."""
    m = c.mix
    buzz_hz = 2.0 * c.unit.mains_hz
    phase = cycles_at(c.t_s, m.frames, m.rate, buzz_hz)
    buzz = np.clip(np.sin(2 * np.pi * phase) * 3.0, -1.0, 1.0)  # the armature hits its stops
    m.add_wave(buzz * c.level * 0.5)
    seconds = m.frames / m.rate
    clicks = np.zeros(m.frames)
    count = int(c.rng.poisson(15.0 * seconds))
    clicks[c.rng.integers(0, m.frames, count)] = c.rng.uniform(0.5, 1.0, count)
    gain = m.band(2000.0, c.top(8000.0), order=2)
    m.add_impacts(clicks * c.level * 0.8, gain)


# Which machine each fault lives in decides when it can be heard.
AUDIO_FAULT_SOURCES: dict[str, tuple[str, Callable[[FaultContext], None]]] = {
    "compressor_bearing_wear": ("compressor", bearing_wear),
    "valve_leak": ("compressor", valve_leak),
    "refrigerant_undercharge": ("compressor", refrigerant_undercharge),
    "liquid_floodback": ("compressor", liquid_floodback),
    "loose_mounting": ("compressor", loose_mounting),
    "condenser_fan_blade": ("condenser_fan", condenser_fan_blade),
    "evaporator_fan_bearing": ("evaporator_fan", evaporator_fan_bearing),
    "contactor_chatter": ("compressor", contactor_chatter),
}
AUDIO_FAULTS: tuple[str, ...] = tuple(AUDIO_FAULT_SOURCES)


def add_fault(c: FaultContext, fault: str) -> None:
    """Add the fault's sound if its machine is running."""
    machine, sound = AUDIO_FAULT_SOURCES[fault]
    audible = {
        "compressor": c.shaft_hz > 0,
        "condenser_fan": c.condenser_fan,
        "evaporator_fan": c.evaporator_fan,
    }[machine]
    if audible and c.severity > 0:
        sound(c)
