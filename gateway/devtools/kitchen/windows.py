"""The public windows: what the box's microphone and accelerometer capture at a time, their
MQTT payloads, and a week of the thermostat's states.

Each window is deterministic in (unit, start, fault, severity, running): the unit's own
sound, the site's and the microphone's noise draw from separate keyed generators, and a
fault from its own, so a fault at severity 0 gives exactly the healthy samples.
"""

from __future__ import annotations

import numpy as np

from gateway.devtools.kitchen import machine, transients
from gateway.devtools.kitchen import pieces as P
from gateway.devtools.kitchen.faults import add_fault
from gateway.devtools.kitchen.microphone import record
from gateway.devtools.kitchen.operation import Moment, moment
from gateway.devtools.kitchen.site import place_filter, site_sound
from gateway.devtools.kitchen.units import Unit
from gateway.devtools.kitchen.vibration import SENSOR_NOISE, background, healthy_running
from gateway.devtools.kitchen.vibration_faults import fault_accel
from gateway.wav import encode_wav

STANDARD_GRAVITY = 9.80665


def own_sound(unit: Unit, m: Moment, fr: P.Frame, g: np.random.Generator) -> P.Mix:
    """The unit itself: compressor, motor, fan and flow while running; its rundown and
    pressure equalising after a stop; its evaporator fan through the wall."""
    mix = P.Mix(fr, P.rng("own-bed", unit.device_id, unit.seed, fr.t_s, m.running))
    if m.running:
        machine.compressor(unit, m, fr, g, mix, 1.0)
        machine.motor(unit, m, fr, g, mix, 1.0)
        machine.condenser_fan(unit, m, fr, g, mix, 1.0)
        transients.start(unit, m, fr, g, mix)
        transients.ice_machine(unit, m, fr, g, mix)
    else:
        transients.stop(unit, m, fr, g, mix)
        transients.defrost(unit, m, fr, g, mix)
    machine.refrigerant_flow(unit, m, fr, g, mix)
    machine.evaporator_fan(unit, m, fr, g, mix)
    return mix


def audio_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                 running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """float32 samples in [-1, 1) on PCM16 steps: (frames,) mono or (frames, 2) stereo."""
    m = moment(unit, t_s, running)
    fr = P.Frame(int(round(seconds * unit.audio_rate)), unit.audio_rate, t_s)
    own = own_sound(unit, m, fr, P.rng("own", unit.device_id, unit.seed, t_s, m.running))
    add_fault(unit, m, fr, fault, severity, own)
    plant, kitchen = site_sound(unit, m, fr, P.rng("site", unit.device_id, unit.seed, t_s))
    near = own.spectrum() + plant.spectrum()
    far = kitchen.spectrum() * place_filter(unit, fr)
    return record(unit, fr, near, far, P.rng("mic", unit.device_id, unit.seed, t_s))


def audio_wav(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
              running: bool | None = None) -> bytes:
    return encode_wav(audio_window(unit, t_s, fault, severity, running), unit.audio_rate)


def vibration_window(unit: Unit, t_s: float, fault: str | None = None, severity: float = 0.0,
                     running: bool | None = None, seconds: float = 1.0) -> np.ndarray:
    """(3, n) acceleration in m/s2 (x, y radial, z axial) at unit.vib_rate."""
    m = moment(unit, t_s, running)
    fr = P.Frame(int(round(seconds * unit.vib_rate)), unit.vib_rate, t_s)
    g = P.rng("vibration", unit.device_id, unit.seed, t_s, m.running)
    xyz = healthy_running(unit, m, fr, g) if m.running else np.zeros((3, fr.n))
    xyz += background(unit, fr, g)
    xyz += P.rng("accelerometer", unit.device_id, unit.seed, t_s).normal(
        0, SENSOR_NOISE, (3, fr.n))
    added = fault_accel(unit, m, fr, fault, severity)
    if added is not None:
        xyz += added
    return xyz


def vibration_payload(unit: Unit, xyz: np.ndarray, t_s: float) -> dict:
    """The box's vibration message (docs/mqtt.md): in m/s2 or, on some boxes, in g."""
    scale = 1.0 / STANDARD_GRAVITY if unit.vib_unit == "g" else 1.0
    axes = {name: np.round(np.asarray(xyz[i], float) * scale, 6).tolist()
            for i, name in enumerate("xyz")}
    return {"ts": round(float(t_s), 3), "sample_rate": unit.vib_rate, "unit": unit.vib_unit,
            **axes}
