"""Fault names and the argument checks every public window function shares."""

from __future__ import annotations

import math

AUDIO_FAULTS: tuple[str, ...] = (
    "discharge_valve_leak",
    "liquid_floodback",
    "undercharge",
    "compressor_bearing_wear",
    "condenser_fan_bearing",
    "pump_cavitation",
    "panel_rattle",
    "contactor_chatter",
    "oil_starvation",
    "expansion_valve_hiss",
)
VIBRATION_FAULTS: tuple[str, ...] = ("bearing_outer", "bearing_inner", "bearing_ball",
                                     "imbalance", "misalignment", "looseness")

# The glycol loop pump runs whether or not the compressor does, so its cavitation is heard in
# the off-cycle too; every other fault needs the compressor (and its fans and contactor) running.
FAULTS_WITHOUT_COMPRESSOR: frozenset[str] = frozenset({"pump_cavitation"})


def active_fault(fault: str | None, severity: float, kinds: tuple[str, ...]) -> str | None:
    """The fault to apply in a window of the given kind, or None for the healthy window.

    Unknown names and severities outside [0, 1] raise; a fault of the other kind (a bearing
    defect on the microphone, a hiss on the accelerometer) is accepted and has no effect.
    """
    if fault is not None and fault not in AUDIO_FAULTS and fault not in VIBRATION_FAULTS:
        raise ValueError(f"unknown fault {fault!r}; expected one of "
                         f"{AUDIO_FAULTS + VIBRATION_FAULTS}")
    try:
        sev = float(severity)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"severity must be a number in [0, 1], got {severity!r}") from exc
    if math.isnan(sev) or not 0.0 <= sev <= 1.0:
        raise ValueError(f"severity must be within [0, 1], got {severity!r}")
    if fault is None or sev == 0.0 or fault not in kinds:
        return None
    return fault
