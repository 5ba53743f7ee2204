"""An independent generator of refrigeration-compressor sound and vibration, for evaluation.

Written from a physical description of the machines, separately from `synth.py` (which the
shipped model was trained on), so that `bench/detection.py` can measure the detector on
machines it has never heard (issue 11). Each unit (a device id and a seed) draws its own
physics once:

- an induction motor: 2 or 4 poles at 50 or 60 Hz mains, 1-5 % slip, so the shaft turns at
  about 24-30 or 48-59 Hz; rotor bars for slot harmonics;
- a compressor: reciprocating (1-4 cylinders, a piston/valve impact per cylinder and turn,
  a rich harmonic series) or scroll (smooth: a few harmonics, more flow noise);
- housing resonances (a few damped modes) excited by the flow noise and the impacts;
- a condenser fan (its own speed, 3-7 blades: the blade-pass tone), running with the
  compressor or always; magnetostrictive hum at twice the mains frequency;
- the room: coloured noise, and now and then a door, a voice, a clatter or a passing machine;
- a microphone: gain, a 20 Hz high-pass, self-noise, clipping at full scale;
- a duty cycle (on 8-25 min, off 4-20 min, each cycle's on time jittered) and slow healthy
  drift over days (level ±~1 dB, speed ±~0.3 %, resonances ±~1 %);
- a rolling-element bearing (ball count, ball/pitch diameter ratio) whose defect orders
  (BPFO, BPFI, 2×BSF, FTF) are non-integer multiples of the shaft speed.

Faults add to the healthy signal at a `severity` in [0, 1] (amplitude proportional to it;
severity 0 gives exactly the healthy samples: fault, healthy part and room each draw from
their own random stream). Audio: bearing, leak, rattle, imbalance, electrical. Vibration
(tri-axial acceleration in m/s², gravity on z): outer-race, inner-race and ball defects
(impacts ringing a bearing resonance, modulated as each defect passes the load zone),
imbalance (1× radial) and misalignment (2× radial, 1×/2× axial).
"""

from gateway.devtools.compressor_rig.audio import AUDIO_FAULT_RMS, audio_window, wav_payload
from gateway.devtools.compressor_rig.units import (
    AUDIO_FAULTS,
    AUDIO_RATES,
    DAY_S,
    GRAVITY,
    VIBRATION_FAULTS,
    VIBRATION_RATES,
    Bearing,
    Unit,
    drift_at,
    running_at,
    unit_for,
)
from gateway.devtools.compressor_rig.vibration import vibration_payload, vibration_window

__all__ = ["AUDIO_FAULTS", "AUDIO_FAULT_RMS", "AUDIO_RATES", "DAY_S", "GRAVITY",
           "VIBRATION_FAULTS", "VIBRATION_RATES", "Bearing", "Unit", "audio_window",
           "drift_at", "running_at", "unit_for", "vibration_payload", "vibration_window",
           "wav_payload"]
