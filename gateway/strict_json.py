"""JSON the gateway hands to others: never `Infinity` or `NaN`, which are not JSON.

Python's json module writes them by default, and a non-finite score or feature (issue 12.6:
huge samples overflowing a feature) then went out on the local broker and to the cloud as
text their parsers refuse. Everything published, uploaded or printed for a machine goes
through `dumps` (allow_nan=False); a non-finite number already in a value goes out as null,
and the caller is told how many there were so it can say so.
"""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> tuple[Any, int]:
    """(`value` with every non-finite float replaced by None, how many were replaced)."""
    if isinstance(value, float):
        return (value, 0) if math.isfinite(value) else (None, 1)
    if isinstance(value, dict):
        pairs = [(k, finite(v)) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, sum(n for _, (_, n) in pairs)
    if isinstance(value, list | tuple):
        items = [finite(v) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def dumps(value: Any, **kwargs: Any) -> tuple[str, int]:
    """(strict JSON text for `value`, how many non-finite numbers became null)."""
    try:
        return json.dumps(value, allow_nan=False, **kwargs), 0
    except ValueError:  # only non-finite floats make allow_nan=False raise
        cleaned, replaced = finite(value)
        return json.dumps(cleaned, allow_nan=False, **kwargs), replaced


def canonical(text: str | bytes) -> tuple[str, int]:
    """Strict JSON for a text that may hold Infinity/NaN (Python's json reads those);
    raises ValueError when it is not JSON at all."""
    return dumps(json.loads(text), separators=(",", ":"))
