"""Argument checks for the public functions, run before any synthesis work.

The benchmark feeds these functions from scripts; a bad argument must fail loudly with the
argument's name rather than quietly produce a window of the wrong kind.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAX_SECONDS = 60.0


def _number(value: object, name: str, expected: str) -> float:
    """`value` as a float, or a ValueError naming the argument and what it must be."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be {expected}, got {value!r}") from None


def finite_time(t_s: object, name: str = "t_s") -> float:
    """An epoch time in seconds; NaN and infinities have no place on a schedule."""
    value = _number(t_s, name, "a number of epoch seconds")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {t_s!r}")
    return value


def severity(value: object) -> float:
    """Fault severity, 0 (healthy twin) to 1 (plainly audible or measurable)."""
    sev = _number(value, "severity", "a number in [0, 1]")
    if not 0.0 <= sev <= 1.0:  # also rejects NaN
        raise ValueError(f"severity must be in [0, 1], got {value!r}")
    return sev


def seconds(value: object) -> float:
    """Window length: positive and no longer than a box would ever send (60 s)."""
    sec = _number(value, "seconds", "a number in (0, 60]")
    if not 0.0 < sec <= MAX_SECONDS:
        raise ValueError(f"seconds must be in (0, 60], got {value!r}")
    return sec


def fault(value: object, allowed: Sequence[str], kind: str) -> str | None:
    """None or one of the names this stream knows; a vibration name is not an audio fault."""
    if value is None:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"fault must be None or one of the {kind} faults {list(allowed)}, "
                         f"got {value!r}")
    return value


def running(value: object) -> bool | None:
    """None (follow the schedule) or a forced state."""
    if value is None:
        return None
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return bool(value)
    raise ValueError(f"running must be None, True or False, got {value!r}")
