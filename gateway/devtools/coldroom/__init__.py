"""coldroom: a fourth compressor generator (sound and tri-axial vibration of cold-room
condensing units), written from physics without reading the other generators or the
detector, and held out for bench/detection.py --generators coldroom.

Modules: pieces (signal building blocks), machines (compressor families, bearing kinematics,
fans), motor (induction motor, mains, starts), operation (thermostat, defrosts, load, drift),
moment (a window's time, state and shaft angle), room (plant room and microphone), units (a
unit from its id and seed), audio (the healthy voice and the scene), faults (audio faults),
vibration and vibration_faults (the accelerometer), windows (the public windows, payloads and
device-week)."""

from gateway.devtools.coldroom.units import Unit, unit_for
from gateway.devtools.coldroom.windows import (
    AUDIO_FAULTS,
    VIBRATION_FAULTS,
    audio_wav,
    audio_window,
    device_week,
    running_at,
    vibration_payload,
    vibration_window,
)

__all__ = ["AUDIO_FAULTS", "VIBRATION_FAULTS", "Unit", "audio_wav", "audio_window",
           "device_week", "running_at", "unit_for", "vibration_payload", "vibration_window"]
