"""How each fault sounds, added to the healthy machine's parts. Severity 0..1 scales each
fault from absent to plainly audible; a unit's own transmission path (its `path_db`) makes the
same severity louder on one machine than on another, as in the field.

Kinds: rolling-bearing outer and inner race defects (impacts at the geometry's non-integer
orders, the inner race's modulated by the shaft's turn through the load zone), a refrigerant
leak (band-limited hiss, heard even while the compressor is off), a loose part's rattle,
rotor imbalance (1x) and misalignment (2x), a broken rotor bar (sidebands at the pole-pass
frequency, which moves with the slip), valve leakage (flow noise after each discharge event:
a reciprocating machine's valves; a scroll's or screw's discharge check valve), and liquid
slugging (heavy irregular knocks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.devtools.plant_sounds import signals as sg
from gateway.devtools.plant_sounds.machine import Kinematics, Machine

AUDIO_FAULTS = ("bearing_outer", "bearing_inner", "leak", "rattle", "imbalance",
                "misalignment", "electrical", "valve_leak", "slugging")

# Each kind's loudness at severity 1, set once (from the generator alone, before any detector
# saw it) so that a severity-1 fault adds energy about 6 dB under the healthy machine's at the
# median unit (a broken rotor bar's beat about 9 dB under): plainly audible to a technician;
# severity 0.1 is then about 20 dB quieter.
LOUDNESS_DB = {"bearing_outer": 0.0, "bearing_inner": 5.0, "leak": 0.0, "rattle": 0.0,
               "imbalance": 10.0, "misalignment": 6.0, "electrical": 16.0, "valve_leak": 2.0,
               "slugging": 2.0}


@dataclass(frozen=True)
class Context:
    machine: Machine
    kin: Kinematics
    load: float
    healthy: dict           # the healthy parts, "structure" and "air"
    rng: np.random.Generator  # this window's chance
    unit_key: tuple           # seeds what belongs to the unit: a loose panel's modes

    def fixed(self, kind: str) -> np.random.Generator:
        """The same draws in every window of this unit."""
        return np.random.default_rng([*self.unit_key, sum(map(ord, kind))])


def sound(kind: str, severity: float, path_db: float, c: Context) -> dict[str, np.ndarray]:
    """The fault's additions to the parts ("structure", "air")."""
    scale = severity * 10 ** ((path_db + LOUDNESS_DB[kind]) / 20)
    return {part: scale * signal for part, signal in _KINDS[kind](c, severity).items()}


def _share(c: Context) -> np.ndarray:
    return c.kin.speed / c.machine.sync_hz


def bearing(c: Context, order_key: str, modulated: bool) -> dict:
    orders = c.machine.bearing.orders()
    kin, n = c.kin, len(c.kin.theta)
    # the rolling elements slip a little: the impact phase wanders by a percent or two
    wobble = np.cumsum(c.rng.normal(0, 0.004, n // 64 + 2))
    cage = kin.theta * orders[order_key] + np.interp(np.arange(n), np.arange(len(wobble)) * 64,
                                                     wobble) * 2 * np.pi
    at = sg.event_times(cage, 1.0)
    amps = c.rng.lognormal(0, 0.25, len(at)) * _share(c)[at] ** 2
    if modulated:  # an inner-race defect passes through the load zone once a turn
        zone = np.maximum(np.cos(kin.theta[at] - 0.7), 0.0) ** 1.5
        amps = amps * (0.12 + 0.88 * zone)
    f_res = min(c.machine.housing[-1][0] * 1.2, 0.4 * kin.rate)
    kernel = sg.ring_kernel(kin.rate, [(f_res, 0.02, 1.0), (0.55 * f_res, 0.03, 0.6)], 0.015)
    return {"structure": 1.4 * sg.impacts(n, at, amps, kernel)}


def leak(c: Context, severity: float) -> dict:
    """Choked flow through a pin hole: a hiss rising with frequency up to the jet's band, with
    a faint pulsation where the discharge pressure pulses."""
    n, rate = len(c.kin.theta), c.kin.rate
    f = sg.freqs(n, rate)
    centre = min(3500 + 2500 * c.machine.flow_corner_hz / 3500, 0.38 * rate)
    shape = sg.highpass(f, 0.35 * centre, 3) * sg.lowpass(f, 1.6 * centre, 2)
    hiss = sg.shaped_noise(c.rng, n, shape)
    pulse = 1 + 0.2 * np.cos(c.machine.cylinders * c.kin.theta) * _share(c)
    return {"air": 0.35 * hiss * pulse * (0.6 + 0.4 * c.load)}


def rattle(c: Context, severity: float) -> dict:
    """A loose guard or clamp: it lifts near one shaft angle and falls back when it will;
    bounces come a few milliseconds apart, each ringing thin sheet metal."""
    n, rate, kin = len(c.kin.theta), c.kin.rate, c.kin
    panel = c.fixed("rattle")
    kernel = sg.ring_kernel(rate, [(panel.uniform(700, 1400), 0.015, 1.0),
                                   (panel.uniform(1800, 3800), 0.01, 0.7)], 0.03)
    candidates = sg.event_times(kin.theta, 2.0, offset=panel.uniform(0, 1))
    # every draw is made for every candidate, so a worse fault adds impacts, never reshuffles
    chance = c.rng.random(len(candidates))
    jitter = c.rng.integers(-int(0.004 * rate), int(0.004 * rate) + 1, len(candidates))
    sizes = [c.rng.lognormal(0, 0.6, len(candidates)) * w for w in (1.0, 0.4, 0.15)]
    keep = chance < 0.25 + 0.6 * severity
    at = candidates[keep] + jitter[keep]
    bounces = [at + int(d * rate) for d in (0.0, 0.004, 0.009)]
    amps = [size[keep] for size in sizes]
    return {"structure": 0.9 * sg.impacts(n, np.concatenate(bounces), np.concatenate(amps),
                                          kernel)}


def imbalance(c: Context, severity: float) -> dict:
    """Centrifugal force at 1x grows with the square of the speed; the housing rocks, so the
    other sounds are modulated once a turn."""
    share = _share(c)
    once = 2.5 * share ** 2 * np.cos(c.kin.theta + 0.4)
    return {"structure": once + 0.5 * np.cos(c.kin.theta) * c.healthy["structure"]}


def misalignment(c: Context, severity: float) -> dict:
    share = _share(c)
    lines = sg.tone_series(c.kin.theta, (1, 2, 3, 4), (0.4, 2.2, 0.8, 0.3), (0.2, 1.1, 2.0, 0.5))
    return {"structure": share ** 2 * lines + 0.3 * np.cos(2 * c.kin.theta)
            * c.healthy["structure"]}


def electrical(c: Context, severity: float) -> dict:
    """A broken rotor bar: the torque and the magnetic field beat at the pole-pass frequency
    (2 x slip x mains), so the hum and the 1x line grow sidebands that move with the load."""
    m, kin = c.machine, c.kin
    t = np.arange(len(kin.theta)) / kin.rate
    pole_pass = 2 * kin.slip * m.mains_hz
    beat = np.cos(sg.phase_of(pole_pass, kin.rate))
    powered = (kin.current > 0).astype(float)
    hum = sum(a * np.cos(2 * np.pi * 2 * m.mains_hz * j * t + j)
              for j, a in enumerate(m.hum_amps, start=1))
    level = 10 ** (m.levels[3] / 20)
    return {"structure": powered * (1.6 * level * hum * beat + 0.8 * np.cos(kin.theta) * beat
                                    + 0.4 * level * hum)}


def valve_leak(c: Context, severity: float) -> dict:
    """Gas blows back through a leaking valve once the discharge has happened: a burst of flow
    noise after each discharge event, fading through the stroke."""
    m, kin, n = c.machine, c.kin, len(c.kin.theta)
    events = m.cylinders if m.family != "scroll" else 1
    stroke = (kin.theta * events / (2 * np.pi) - 0.5) % 1.0  # 0 at each discharge
    gate = np.exp(-stroke / 0.18) * (_share(c) > 0.3)
    f = sg.freqs(n, kin.rate)
    shape = sg.highpass(f, 700, 2) * sg.lowpass(f, min(5000, 0.4 * kin.rate), 2) * \
        sg.peak_gain(f, c.fixed("valve_leak").uniform(1200, 3000), 6, 4)
    return {"air": 0.8 * (0.5 + 0.7 * c.load) * gate * sg.shaped_noise(c.rng, n, shape)}


def slugging(c: Context, severity: float) -> dict:
    """Liquid in the compression space: hydraulic knocks on some strokes, in spells."""
    m, kin, n, rate = c.machine, c.kin, len(c.kin.theta), c.kin.rate
    strokes = sg.event_times(kin.theta, max(m.cylinders if m.family != "screw" else 1, 1), 0.5)
    head = c.fixed("slugging")
    kernel = sg.ring_kernel(rate, [(head.uniform(150, 350), 0.06, 1.0),
                                   (head.uniform(500, 900), 0.04, 0.7),
                                   (head.uniform(2000, 3500), 0.03, 0.3)], 0.08)
    spell = np.cumsum(c.rng.random(len(strokes)) < 0.15) % 2 == 0  # slugs come and go
    hit = spell & (c.rng.random(len(strokes)) < 0.15 + 0.45 * severity)
    amps = c.rng.lognormal(0, 0.5, len(strokes)) * _share(c)[strokes]
    return {"structure": 3.0 * sg.impacts(n, strokes[hit], amps[hit], kernel)}


_KINDS = {
    "bearing_outer": lambda c, s: bearing(c, "bpfo", modulated=False),
    "bearing_inner": lambda c, s: bearing(c, "bpfi", modulated=True),
    "leak": leak, "rattle": rattle, "imbalance": imbalance, "misalignment": misalignment,
    "electrical": electrical, "valve_leak": valve_leak, "slugging": slugging,
}
