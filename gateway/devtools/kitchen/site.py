"""Everything the microphone hears that is not this unit: the neighbouring units on their
own thermostats, the extraction hood's fan, the room's ventilation, wind and traffic on a
roof, and the kitchen (kitchen_sounds.py) through whatever wall or door is in between.
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.kitchen import machine
from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen.kitchen_sounds import KITCHEN
from gateway.devtools.kitchen.operation import Moment, moment
from gateway.devtools.kitchen.units import Unit

# Where the box hangs: (attenuation of the kitchen's sound in dB, low-pass of the wall Hz)
_PLACE = {"kitchen": (0.0, 12_000.0), "housing": (-8.0, 4000.0),
          "cupboard": (-18.0, 1500.0), "roof": (-30.0, 700.0)}


def place_filter(unit: Unit, fr: P.Frame) -> np.ndarray:
    loss, cutoff = _PLACE[unit.place]
    return P.db(loss) * fr.band(0, cutoff, 1)


def room_floor(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """Ventilation, distant plant and traffic: never silent, quietest at night."""
    level = 38.0 + 6.0 * m.activity + (6.0 if unit.place == "roof" else 0.0)
    mix.add_noise(fr.shape(("floor",), lambda: fr.pink(60.0, 0.7) * fr.band(20, 10_000)),
                                 P.spl(level))
    if unit.place == "roof":
        gust = P.rng("wind", unit.utc_offset_h, unit.site, int(fr.t_s // 3600)).random()
        wind = fr.band(10, 300) * fr.pink(30, 1.0)
        swell = 1.0 + 0.6 * np.sin(2 * np.pi * 0.15 * (fr.t + fr.t_s))
        mix.time += P.to_time(P.noise_spectrum(g, wind, P.spl(44.0 + 16.0 * gust)),
                              fr.n) * swell


def hood(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """The extraction hood's fan, on through prep, service and cleaning: broadband roar
    with its blade-pass (a centrifugal fan's 10 blades at ~1100 rpm). Loud in the kitchen;
    on a roof the exhaust outlet is near the box."""
    if m.phase in ("night", "closed"):
        return
    kitchen_db = {"kitchen": 72.0, "housing": 66.0, "cupboard": 56.0, "roof": 70.0}
    p = P.spl(kitchen_db[unit.place] + 2.0 * m.activity)
    roar = fr.shape(("hood",), lambda: fr.resonance(180.0, 0.5) * fr.pink(150.0)
                    + 0.1 * fr.band(30, 6000))
    mix.add_noise(roar, p)
    bpf = 10 * 1100 / 60.0 * m.mains_hz / 50.0
    mix.time += P.tone(bpf * fr.t + g.random(), 0.25 * p * 1.41)


def neighbours(unit: Unit, fr: P.Frame, g: np.random.Generator, mix: P.Mix) -> None:
    """The other units nearby, each on its own thermostat; inside a housing the panels
    shield them a little."""
    shield = 0.5 if unit.place == "housing" else 1.0
    for other in unit.neighbours:
        om = moment(other, fr.t_s)
        if om.running:
            machine.compressor(other, om, fr, g, mix, shield)
            machine.condenser_fan(other, om, fr, g, mix, shield)


def site_sound(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator
               ) -> tuple[P.Mix, P.Mix]:
    """(the plant around the box, the kitchen as heard on its floor)."""
    plant = P.Mix(fr, P.rng("plant-bed", unit.device_id, unit.seed, fr.t_s))
    kitchen = P.Mix(fr, P.rng("kitchen-bed", unit.device_id, unit.seed, fr.t_s))
    room_floor(unit, m, fr, g, plant)
    hood(unit, m, fr, g, plant)
    neighbours(unit, fr, g, plant)
    for source in KITCHEN:
        if m.activity > 0 or m.phase == "closing":
            source(unit, m, fr, g, kitchen)
    return plant, kitchen
