"""[machines.<device id>]: a device's ISO 10816 class, shaft speed and bearing geometry,
validated at start, turned into the zones and defect orders the vibration features use."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ISO_CLASS_NAMES, ConfigError, MachineSection, load_config
from gateway.inference.features import DEFAULT_ISO_CLASS, ISO_CLASSES
from gateway.inference.vibration_features import Kinematics, bearing_orders, kinematics_of

MINIMAL = '[gateway]\nid = "gw-1"\n'
EXAMPLE = Path(__file__).resolve().parents[2] / "config.toml"


def load(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(MINIMAL + text)
    return load_config(path, environ={})


def problem(tmp_path, text) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return str(info.value)


def test_no_machines_by_default_and_a_device_gets_its_geometry(tmp_path):
    assert load(tmp_path, "").machines == {}
    config = load(tmp_path, '[machines.comp-7]\nshaft_hz = 24.6\nbearing_balls = 9\n'
                            'bearing_ball_mm = 7.94\nbearing_pitch_mm = 39.04\n'
                            '[machines."fan.2"]\nshaft_hz = 12\n')
    assert config.machines["comp-7"] == MachineSection(24.6, 9, 7.94, 39.04, 0.0)
    assert config.machines["fan.2"].shaft_hz == 12.0 and not config.machines["fan.2"].has_bearing
    kinematics = kinematics_of(config.machines["comp-7"])
    orders = dict(kinematics.orders)
    # A 6205-like bearing: BPFO 3.58, BPFI 5.42, twice the ball spin 4.71 (datasheet values).
    assert orders["outer race"] == pytest.approx(3.585, abs=0.01)
    assert orders["inner race"] == pytest.approx(5.415, abs=0.01)
    assert orders["ball"] == pytest.approx(4.71, abs=0.02)
    assert kinematics_of(config.machines["fan.2"]) == Kinematics(12.0, (), "I")


def test_a_machine_class_is_given_by_its_iso_10816_name(tmp_path):
    # the config knows the names, the analysis their zones: the same classes, the same default
    assert tuple(ISO_CLASSES) == ISO_CLASS_NAMES and MachineSection().iso_class == "I"
    assert Kinematics().iso_class == DEFAULT_ISO_CLASS == "I"
    config = load(tmp_path, '[machines.reefer-2]\niso_class = "III"\n')
    assert config.machines["reefer-2"] == MachineSection(iso_class="III")
    assert kinematics_of(config.machines["reefer-2"]) == Kinematics(iso_class="III")


def test_a_contact_angle_moves_the_orders():
    flat = dict(bearing_orders(9, 7.94, 39.04, 0.0))
    angled = dict(bearing_orders(9, 7.94, 39.04, 30.0))
    assert angled["outer race"] > flat["outer race"] and angled["inner race"] < flat["inner race"]


@pytest.mark.parametrize(("text", "says"), [
    ('[machines.comp-7]\nbearing_balls = 9\n', "bearing_balls: a bearing needs"),
    ('[machines.comp-7]\nbearing_balls = 9\nbearing_ball_mm = 40\nbearing_pitch_mm = 39\n',
     "bearing_ball_mm: must be less than bearing_pitch_mm"),
    ('[machines.comp-7]\nshaft_hz = 0.5\n', "machines.comp-7.shaft_hz: must be 0"),
    ('[machines.comp-7]\nbearing_balls = 2\n', "machines.comp-7.bearing_balls: must be 0"),
    ('[machines.comp-7]\nspeed = 3\n', "machines.comp-7.speed: unknown key"),
    ('[machines.comp-7]\nshaft_hz = "fast"\n', "shaft_hz: must be a number"),
    ('[machines."bad id!"]\nshaft_hz = 3\n', "device id must match"),
    ('[machines]\ncomp-7 = 3\n', "machines.comp-7: must be a table"),
    ('[machines.comp-7]\niso_class = "V"\n', "machines.comp-7.iso_class: must be one of I, II"),
    ('[machines.comp-7]\niso_class = 2\n', "iso_class: must be a string"),
])
def test_a_wrong_machine_is_a_config_error_naming_the_key(tmp_path, text, says):
    assert says in problem(tmp_path, text)


def test_the_shipped_configs_machine_example_loads_once_uncommented(tmp_path):
    """config.toml ends with a commented [machines.<id>] example: as a technician would,
    remove the "# " of its table; it must then be a valid machine (a bearing given in
    part is refused, so the example gives all three of its keys)."""
    text = EXAMPLE.read_text()
    assert load_config(EXAMPLE, environ={}).machines == {}
    start = text.index("# [machines.compressor-07]")
    lines = text[start:].splitlines()
    table = [line.removeprefix("# ") for line in lines if line.startswith("# ")
             and ("[machines." in line or "=" in line)]
    machine = load(tmp_path, "\n".join(table) + "\n").machines["compressor-07"]
    assert machine.iso_class == "II" and machine.shaft_hz == 24.6 and machine.has_bearing
