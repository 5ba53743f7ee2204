"""Scattering site events in time so that overlapping windows hear the same events.

Time is cut into slots per kind of event; each slot's events (how many, when, and their
parameters) come from a Generator seeded by the slot's start millisecond, so the pallet dropped
at 10:03:12.4 is there whichever window is asked for. The expected count per slot follows the
dock activity at that time (shift pattern). A window asks only for the few slots that can reach
it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import climate, seeding
from .units import Unit


@dataclass(frozen=True)
class Kind:
    """A kind of event: how often (per slot, given activity), how long at most."""

    name: str
    slot_s: float
    max_s: float
    rate: Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Event:
    """One event: its start (epoch s) and the Generator its parameters come from."""

    start: float
    params: np.random.Generator


def in_window(unit: Unit, kind: Kind, t0: float, t1: float) -> list[Event]:
    """Events of ``kind`` that may overlap [t0, t1): started less than max_s before t1."""
    lo = math.floor((t0 - kind.max_s) / kind.slot_s)
    hi = math.floor(t1 / kind.slot_s)
    starts = np.arange(lo, hi + 1) * kind.slot_s
    rates = kind.rate(climate.activity(starts, unit.plan.tz_s))
    found = []
    for slot, rate in zip(starts.tolist(), rates.tolist(), strict=True):
        g = seeding.rng(unit.seed, unit.device_id, "site:" + kind.name, round(slot * 1000))
        count = int(g.poisson(rate))
        at = slot + g.uniform(0, kind.slot_s, count)
        seeds = g.integers(0, 2**63, count)
        for start, seed in zip(at.tolist(), seeds.tolist(), strict=True):
            if start < t1 and start + kind.max_s > t0:
                found.append(Event(start, np.random.Generator(np.random.PCG64(seed))))
    return found


def span(t0: float, n: int, fs: float, start: float, dur: float
         ) -> tuple[int, int, np.ndarray]:
    """Sample range [i0, i1) of the window covered by an event, and time since its start."""
    i0 = max(0, math.ceil((start - t0) * fs))
    i1 = min(n, math.ceil((start + dur - t0) * fs))
    tau = np.arange(i0, max(i0, i1)) / fs + (t0 - start)
    return i0, max(i0, i1), tau
