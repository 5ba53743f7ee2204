"""The brewery around the machines: what is heard at a moment depends on the day's plan.

Always: the room's low rumble and fermenter-jacket solenoids clicking (more often by day). When
people are in: voices, a radio on brewing and canning days, hoses and drains, forklifts. On
brewing days the brewhouse next door (boil rumble, steam); CIP cleaning after the brew and first
thing in the morning; keg washing in the mornings; the canning line for a few hours. At night
only the machines, their pumps and the solenoids remain.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .dsp import band, db, rfft_freqs, shape_rms
from .frame import Frame
from .site_sounds import (
    SiteMix,
    canning_line,
    cip_spray,
    forklift,
    hose_and_drain,
    keg_washer,
    radio,
    solenoid_clicks,
    voices,
)
from .week import day_plan, local_day

ROOM_DB = -72.0  # the empty cellar at night: ventilation, distant traffic, the building


@dataclass(frozen=True)
class SiteSound:
    events: np.ndarray  # time-domain sounds of the window
    noise_power: np.ndarray  # stationary noise power per rfft bin


@lru_cache(maxsize=64)
def _beds(n: int, rate: int) -> dict[str, np.ndarray]:
    """Unit-RMS spectra of the steady backgrounds."""
    freqs = rfft_freqs(n, rate)
    shapes = {
        "room": band(freqs, 20, 300, 1) / np.sqrt(np.maximum(freqs, 20.0) / 20.0),
        "boil": band(freqs, 40, 700, 1),
        "steam": band(freqs, 2000, 8000, 2),
        "conveyor": band(freqs, 200, 6000, 1),
    }
    return {name: shape / shape_rms(shape) for name, shape in shapes.items()}


def _steady_power(frame: Frame) -> np.ndarray:
    beds = _beds(frame.n, frame.rate)
    act = frame.op.activity
    exposure = frame.unit.site_exposure
    power = db(ROOM_DB) ** 2 * beds["room"] ** 2
    if act.brewhouse:
        power = power + (db(-54.0) * exposure * beds["boil"]) ** 2
        power = power + (db(-62.0) * exposure * beds["steam"]) ** 2
    if act.canning:
        power = power + (db(-55.0) * exposure * beds["conveyor"]) ** 2
    return power


def _radio_on(frame: Frame) -> bool:
    plan = day_plan(frame.unit.seed, local_day(frame.t_s))
    return frame.op.activity.staffed and (plan.brewing or plan.canning)


def site_sound(frame: Frame) -> SiteSound:
    act = frame.op.activity
    mix = SiteMix(frame)
    solenoid_clicks(mix)
    if act.staffed:
        voices(mix)
        hose_and_drain(mix)
        forklift(mix)
        if _radio_on(frame):
            radio(mix)
    if act.keg_wash:
        keg_washer(mix)
    if act.canning:
        canning_line(mix)
    if act.cip:
        cip_spray(mix)
    return SiteSound(mix.out, _steady_power(frame))
