"""Blind test data: reefer containers in a port's container yard.

Refrigerated containers plugged into the yard's power towers, stacked 2-4 high, each with its
own refrigeration unit (scroll compressor: digital-scroll PWM, inverter or fixed speed;
condenser and evaporator fans; solenoid valves) and a sensor box with a microphone and a
tri-axial accelerometer on the unit frame. The yard around it: neighbouring reefers,
straddle carriers, clangs, gulls, horns, wind and rain. Windows are deterministic in
(unit, t_s, fault, severity), and a faulty window shares every healthy part with its
healthy twin.

Modules: keys (stable seeds), unit (parameters), schedule (cycles, defrost, PWM, the day),
frame (a window's operating point), dsp and ringing (signal blocks), machine (the healthy
unit's sound), yard (the surroundings), faults_audio, audio (mic chain, WAV), vib_faults,
vibration (accelerometer, payload), names (fault names and argument checks).
"""

from __future__ import annotations

from .audio import audio_wav, audio_window
from .names import AUDIO_FAULTS, VIBRATION_FAULTS
from .schedule import device_week, running_at
from .unit import Unit, unit_for
from .vibration import vibration_payload, vibration_window

__all__ = [
    "AUDIO_FAULTS",
    "VIBRATION_FAULTS",
    "Unit",
    "audio_wav",
    "audio_window",
    "device_week",
    "running_at",
    "unit_for",
    "vibration_payload",
    "vibration_window",
]
