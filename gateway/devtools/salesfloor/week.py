"""A device's schedule of windows over days, with whether its compressor runs at each."""

from __future__ import annotations

from .thermostat import running_at
from .units import Unit


def device_week(unit: Unit, start_s: float, cadence_s: float, days: float
                ) -> list[tuple[float, bool]]:  # fmt: skip
    """(t, running) for t = start_s + i * cadence_s over the given number of days."""
    if cadence_s <= 0:
        raise ValueError(f"cadence_s must be positive, got {cadence_s!r}")
    count = int(days * 86400.0 // cadence_s)
    times = (start_s + i * cadence_s for i in range(count))
    return [(t, running_at(unit, t)) for t in times]
