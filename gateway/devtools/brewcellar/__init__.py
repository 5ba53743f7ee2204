"""Blind test data: a craft brewery's cellar and plant room.

Glycol chillers (packaged, one or two semi-hermetic reciprocating or scroll compressors,
air-cooled condenser with fixed, two-speed or EC fans, a glycol pump that never stops) and
keg-store condensing units, each watched by a sensor box with a microphone (16-48 kHz, some
stereo) and a tri-axial accelerometer on the compressor (3.2-25.6 kHz, m/s2 or g). Compressors
cycle on glycol temperature: load follows fermentation (a crash-cooled tank makes long runs, a
quiet night short ones), a lag chiller starts only on heavy load, an undersized unit hardly
stops. Around them the brewery: solenoids clicking on fermenter jackets, CIP spray balls, the
keg washer's hiss and clangs, the canning line, forklifts, hoses, a radio, people; at night only
the machines. Condenser fouling and the weather drift the healthy sound over days. Windows are
deterministic in (unit, t_s, fault, severity, running), and a faulty window shares every
healthy part with its healthy twin. Severity scales a fault's physical size (0.1 a first hint,
1 plainly broken); audio faults sound only while the compressor runs, except pump_cavitation
(the glycol pump never stops).

Modules: keys (stable seeds), names (fault names, argument checks), unit (fixed parameters),
week (the brewery's days, weather, glycol demand), schedule (thermostat cycling), operating (a
window's speeds, head pressure, fan stages), frame (time axis and shaft phases), dsp (signal
blocks), machine (compressor sound), plant (fans, pump), site_sounds and site (the brewery),
fault_parts and faults_audio (the ten audio faults), audio (room, microphone, WAV), bearing
(defect frequencies), vib_faults (the six vibration faults), vibration (accelerometer, payload).
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
