"""Sales floor: plug-in display cases and bottle coolers in supermarkets and convenience stores.

Each case has its own hermetic compressor (reciprocating or rotary, some on an inverter), a
condenser fan, an evaporator fan and a sensor box (microphone and tri-axial accelerometer on
the compressor's mounting). The simulation follows the store's day - shoppers, checkout
beeps, music, night blinds, the floor scrubber, early deliveries - the cases' thermostat cycles
and defrosts, the neighbouring cases heard through the air and the floor, and eight audible
and six vibration faults graded by severity.

Modules: units (what each unit is), store_day (the store's clock and activity), thermostat
(load, duty cycle, defrost, speed, drift), machine_sound (compressor and fans), floor_sound (the
room), audio_faults, microphone (the box's audio chain), audio (window assembly), bearing and
vibration (the accelerometer), week (a device's window schedule); spectral, mix, seeding are
shared building blocks.
"""

from __future__ import annotations

from .audio import audio_wav, audio_window
from .audio_faults import AUDIO_FAULTS
from .thermostat import running_at
from .units import Unit, unit_for
from .vibration import VIBRATION_FAULTS, vibration_payload, vibration_window
from .week import device_week

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
