"""Say why: which features drove a window's score, in words a technician can listen for.

A driver is a feature at least `MIN_SIGMAS` of the device's own spreads from its normal; the
strongest `MAX_DRIVERS` are named, e.g. "band 4.0-5.1 kHz level +9.3σ (+6.1 dB)" or
"envelope 2-8 kHz peak +8.0σ (+7.2 dB) at 96 Hz = 3.6x rotation".
"""

from __future__ import annotations

import math

import numpy as np

from gateway.inference.audio_features import WindowFeatures

MIN_SIGMAS = 3.0
MAX_DRIVERS = 3


def _envelope_hz(features: WindowFeatures, index: int) -> float | None:
    """The envelope line's frequency for an "envelope ... peak" feature, or the defect
    frequency for an "envelope at <defect>" one (configured bearing), from the context."""
    for kind, key in (("peak", "envelope_peak_hz"), ("defect", "defect_hz")):
        indices = [i for i, name in enumerate(features.names)
                   if (name.startswith("envelope at ") if kind == "defect"
                       else name.startswith("envelope") and name.endswith("peak"))]
        found = features.context.get(key, [])
        if index in indices and indices.index(index) < len(found):
            return float(found[indices.index(index)])
    return None


def drivers(features: WindowFeatures, z: np.ndarray, centre: np.ndarray) -> list[dict]:
    """The strongest deviations, largest first: feature, sigmas, change in its own unit."""
    order = np.argsort(-np.abs(z))[:MAX_DRIVERS]
    found = []
    for i in order:
        if abs(z[i]) < MIN_SIGMAS:
            break
        entry = {"feature": features.names[i], "sigma": round(float(z[i]), 1),
                 "change": round(float(features.values[i] - centre[i]), 2),
                 "unit": features.units[i]}
        hz = _envelope_hz(features, int(i))
        if hz:
            entry["at_hz"] = hz
            rotation = features.context.get("rotation_hz") or 0.0
            if rotation > 0:
                entry["order"] = round(hz / rotation, 2)
        found.append(entry)
    return found


def _change(entry: dict) -> str:
    if entry["unit"] == "dB":
        return f"{entry['change']:+.1f} dB"
    if entry["unit"] == "log":
        return f"x{math.exp(max(min(entry['change'], 50.0), -50.0)):.2g}"
    return f"{entry['change']:+.1f} {entry['unit']}"


def describe(found: list[dict]) -> str:
    """One line: 'band 4.0-5.1 kHz level +9.3σ (+6.1 dB); ...'."""
    parts = []
    for entry in found:
        text = f"{entry['feature']} {entry['sigma']:+.1f}σ ({_change(entry)})"
        if "at_hz" in entry:
            text += f" at {entry['at_hz']:g} Hz"
            if "order" in entry:
                text += f" = {entry['order']:g}x rotation"
        parts.append(text)
    return "; ".join(parts)
