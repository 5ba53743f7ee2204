"""The drive: an induction motor on mains (fixed stages) or on the inverter (the lead), its
electromagnetic tones and the inverter's PWM carrier whine."""

from __future__ import annotations

from gateway.devtools.rackhall.units import Unit


def electrical_hz(unit: Unit, shaft_hz: float) -> float:
    """Supply frequency: mains for a fixed stage, the inverter's output for the lead."""
    if unit.stage != 0:
        return unit.mains_hz
    return shaft_hz * unit.poles / 2 / (1 - unit.slip)


def magnetic_tones(unit: Unit, shaft_hz: float, load: float) -> list[tuple[float, float]]:
    """(Hz, amplitude): magnetostriction and Maxwell forces at twice the supply and its even
    harmonics, and the rotor-slot whine at slots x shaft +/- 2 supply."""
    fe = electrical_hz(unit, shaft_hz)
    hum = 0.006 * (0.6 + 0.4 * load)
    out = [(2 * fe, hum), (4 * fe, hum * 0.35), (6 * fe, hum * 0.15)]
    slot = unit.rotor_slots * shaft_hz
    out += [(slot - 2 * fe, 0.002), (slot + 2 * fe, 0.0015)]
    if unit.stage != 0:  # mains-fed: the rack's transformer and contactors hum too
        out.append((2 * unit.mains_hz * 3, hum * 0.1))
    return out


def pwm_tones(unit: Unit, shaft_hz: float, rate: int) -> list[tuple[float, float]]:
    """(Hz, amplitude) of the carrier whine: sidebands fc +/- 2 fe, fc +/- 4 fe and 2 fc +/- fe
    (a balanced three-phase modulator puts nothing at fc itself in the line voltages)."""
    if unit.stage != 0:
        return []
    fe, fc = electrical_hz(unit, shaft_hz), unit.carrier_hz
    lines = [(fc - 2 * fe, 0.004), (fc + 2 * fe, 0.004), (fc - 4 * fe, 0.0012),
             (fc + 4 * fe, 0.0012), (2 * fc - fe, 0.0015), (2 * fc + fe, 0.0015)]
    return [(f, a) for f, a in lines if 20 < f < 0.45 * rate]
