"""Docs that cannot rot: config keys, rejection reasons, CLI commands and examples are checked."""

from __future__ import annotations

import argparse
import re
import shlex
import time
import tomllib
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from gateway.cli import build_parser
from gateway.config import BROKER_MESSAGE_LIMIT, SECTIONS, IntakeSection
from gateway.intake import writer as intake
from gateway.intake.payloads import Inbound, parse_message
from gateway.records import Rejection

REPO = Path(__file__).resolve().parents[2]
CONFIG_TOML = REPO / "config.toml"
CONFIGURATION_MD = REPO / "docs" / "configuration.md"
MQTT_MD = REPO / "docs" / "mqtt.md"
README = REPO / "README.md"
BROKER_CONF = REPO / "systemd" / "mosquitto-sensor-gateway.conf"
REASON_SOURCES = [REPO / "gateway" / "intake" / "payloads.py", REPO / "gateway" / "wav.py"]
# PayloadError("code", ...), WavError("code", ...) and rejection(msg, "code", ...)
REASON_PATTERN = re.compile(
    r'(?:PayloadError|WavError)\(\s*"([a-z_]+)"|\brejection\(\s*\w+,\s*"([a-z_]+)"')
TYPE_NAMES = {"str": "string", "int": "int", "float": "float", "bool": "bool", "Path": "path"}


def config_keys(cls: type) -> list:
    """The fields a technician may write: all but the derived secrets."""
    return [f for f in fields(cls) if not f.metadata.get("derived")]


ALL_KEYS = [(name, f) for name, cls in SECTIONS.items() for f in config_keys(cls)]


def reason_codes() -> set[str]:
    codes = set()
    for path in REASON_SOURCES:
        for match in REASON_PATTERN.finditer(path.read_text()):
            codes.add(match.group(1) or match.group(2))
    return codes


def section_tables(markdown: str) -> dict[str, dict[str, list[str]]]:
    """`## [section]` heading → {key: [type, default, range, meaning]} from its table."""
    tables: dict[str, dict[str, list[str]]] = {}
    for part in re.split(r"^## ", markdown, flags=re.M)[1:]:
        heading, _, body = part.partition("\n")
        name = re.fullmatch(r"`\[(\w+)\]`", heading.strip())
        if name:
            rows = re.findall(r"^\| `(\w+)` \|(.*)\|\s*$", body, flags=re.M)
            tables[name.group(1)] = {key: [c.strip() for c in rest.split(" | ")]
                                     for key, rest in rows}
    return tables


def toml_default(f) -> object:
    value = f.default
    return str(value) if isinstance(value, Path) else value


# --- config keys ---------------------------------------------------------------------------


def test_the_key_list_is_not_empty():
    assert len(ALL_KEYS) >= 30
    assert ("mqtt", "password") not in {(s, f.name) for s, f in ALL_KEYS}


def test_example_config_has_exactly_the_config_keys():
    example = tomllib.loads(CONFIG_TOML.read_text())
    assert set(example) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        assert set(example[name]) == {f.name for f in config_keys(cls)}, name


@pytest.mark.parametrize(("section", "f"), ALL_KEYS, ids=[f"{s}.{f.name}" for s, f in ALL_KEYS])
def test_example_config_shows_the_default(section, f):
    value = tomllib.loads(CONFIG_TOML.read_text())[section][f.name]
    if f.default is MISSING:
        assert (section, f.name, value) == ("gateway", "id", "gw-0001")
    else:
        assert value == toml_default(f) and type(value) is type(toml_default(f))


@pytest.mark.parametrize(("section", "f"), ALL_KEYS, ids=[f"{s}.{f.name}" for s, f in ALL_KEYS])
def test_example_config_comments_every_key(section, f):
    text = CONFIG_TOML.read_text()
    block = re.search(rf"^\[{section}\]\n(.*?)(?=^\[|\Z)", text, flags=re.M | re.S).group(1)
    comment = re.search(rf"((?:^#.*\n)+)^{f.name} = ", block, flags=re.M)
    assert comment, f"{section}.{f.name} has no comment right above it"
    if f.default is MISSING:
        assert "Required" in comment.group(1)
        return
    shown = re.search(r"Default: (\S+)", comment.group(1))
    assert shown, f"{section}.{f.name}: the comment does not give the default"
    value = tomllib.loads(f"v = {shown.group(1).rstrip('.')}")["v"]
    assert value == toml_default(f), f"{section}.{f.name}: the comment says {value!r}"


@pytest.mark.parametrize(("section", "f"), ALL_KEYS, ids=[f"{s}.{f.name}" for s, f in ALL_KEYS])
def test_configuration_reference_documents_every_key(section, f):
    tables = section_tables(CONFIGURATION_MD.read_text())
    assert f.name in tables.get(section, {}), f"{section}.{f.name} missing in configuration.md"
    kind, default, allowed, meaning = tables[section][f.name]
    assert kind == TYPE_NAMES[f.type], f"{section}.{f.name}: type {kind!r}"
    assert allowed and len(meaning) > 10
    if f.default is MISSING:
        assert default == "**required**"
    else:
        shown = re.match(r"`([^`]*)`", default).group(1)
        assert tomllib.loads(f"v = {shown}")["v"] == toml_default(f), f"{section}.{f.name}"


RANGED_KEYS = [(s, f) for s, f in ALL_KEYS
               if f.metadata["check"] and f.metadata["check"].__qualname__.startswith("_range")]


def assert_range_matches(f, lo: float, hi: float, where: str) -> None:
    """The documented bounds are accepted and just beyond them is refused."""
    check, step = f.metadata["check"], (1 if f.type == "int" else 0.001)
    assert check(lo) is None and check(hi) is None, f"{where}: {lo}-{hi} not accepted"
    assert check(lo - step) is not None, f"{where}: below {lo} is accepted too"
    assert check(hi + step) is not None, f"{where}: above {hi} is accepted too"


@pytest.mark.parametrize(("section", "f"), RANGED_KEYS,
                         ids=[f"{s}.{f.name}" for s, f in RANGED_KEYS])
def test_documented_ranges_match_the_code(section, f):
    allowed = section_tables(CONFIGURATION_MD.read_text())[section][f.name][2]
    lo, hi = re.match(r"([\d.]+)-([\d.]+)", allowed).groups()
    assert_range_matches(f, float(lo), float(hi), f"configuration.md {section}.{f.name}")
    text = CONFIG_TOML.read_text()
    block = re.search(rf"^\[{section}\]\n(.*?)(?=^\[|\Z)", text, flags=re.M | re.S).group(1)
    comment = re.search(rf"((?:^#.*\n)+)^{f.name} = ", block, flags=re.M).group(1)
    lo, hi = re.search(r"([\d.]+),?\s+to\s+(?:#\s+)?([\d.]+)", comment).groups()
    assert_range_matches(f, float(lo), float(hi.rstrip(".")), f"config.toml {section}.{f.name}")


def test_configuration_reference_has_no_stale_keys():
    tables = section_tables(CONFIGURATION_MD.read_text())
    assert set(tables) == set(SECTIONS)
    for name, cls in SECTIONS.items():
        assert set(tables[name]) == {f.name for f in config_keys(cls)}, name


def test_secret_sources_are_documented_everywhere():
    for path in (CONFIG_TOML, CONFIGURATION_MD):
        text = path.read_text()
        for needle in ("GATEWAY_MQTT_PASSWORD", "GATEWAY_SYNC_TOKEN", "CREDENTIALS_DIRECTORY",
                       "mqtt-password", "sync-token", "password_file", "token_file"):
            assert needle in text, (path.name, needle)


# --- rejection reasons ---------------------------------------------------------------------


def test_reason_codes_are_found_in_the_source():
    codes = reason_codes()
    assert {"not_json", "not_wav", "truncated_wav", "oversize", "internal_error"} <= codes
    assert len(codes) >= 15


@pytest.mark.parametrize("code", sorted(reason_codes()))
def test_every_reason_code_is_documented_for_firmware_authors(code):
    assert re.search(rf"^\| `{code}` \|", MQTT_MD.read_text(), flags=re.M), code


def test_mqtt_doc_lists_no_reason_the_gateway_does_not_use():
    text = MQTT_MD.read_text()
    table = text[text.index("Reason codes:"):]
    table = table[:table.index("\n\n", table.index("| reason |"))]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M))
    assert documented == reason_codes()


def test_the_gateways_own_refusals_are_documented_apart_from_invalid_messages():
    text = MQTT_MD.read_text()
    table = text[text.index("the gateway's own refusals"):]
    table = table[:table.index("\n\n", table.index("| reason |"))]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M))
    assert documented == {intake.DISK_FULL, intake.UNSTORABLE}


# --- the command line ----------------------------------------------------------------------


def subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def test_subcommands_are_found():
    assert {"run", "status", "check-config"} <= set(subcommands())


@pytest.mark.parametrize("command", subcommands())
def test_every_cli_command_is_in_the_readme(command):
    assert README.exists(), "README.md is missing"
    assert f"gateway {command}" in README.read_text()


def test_configuration_reference_names_check_config():
    assert "gateway check-config -c" in CONFIGURATION_MD.read_text()


# --- the examples in docs/mqtt.md are accepted by the real parser (outcomes: e2e) -------


def _examples() -> list[tuple[str, bytes]]:
    """(topic, payload) of each `mosquitto_pub ... -m '...'` line in docs/mqtt.md."""
    found = []
    for line in re.findall(r"^mosquitto_pub .*$", MQTT_MD.read_text(), flags=re.M):
        args = shlex.split(line)
        assert args[args.index("-q") + 1] == "1", line
        if "-m" in args:
            found.append((args[args.index("-t") + 1], args[args.index("-m") + 1].encode()))
    return found


def _parse(topic: str, payload: bytes):
    now_ms = int(time.time() * 1000)
    return parse_message(Inbound(topic, payload, now_ms, None), "sensors", IntakeSection())


def test_mosquitto_pub_examples_are_accepted_except_the_invalid_one():
    examples = _examples()
    # The audio and vibration examples publish files (-f); what becomes of every example is
    # checked against the real daemon in tests/e2e/test_docs_examples.py.
    assert {topic.rsplit("/", 1)[1] for topic, _ in examples} == {"telemetry"}
    for topic, payload in examples:
        record = _parse(topic, payload)
        if payload == b"hello":
            assert isinstance(record, Rejection) and record.reason == "not_json"
        else:
            assert not isinstance(record, Rejection), (topic, record.detail)


def test_json_payload_blocks_are_accepted():
    text = MQTT_MD.read_text()
    blocks = {"vibration": text.split("### `vibration`")[1].split("###")[0],
              "telemetry": text.split("### `telemetry`")[1].split("###")[0]}
    for stream, section in blocks.items():
        payload = re.search(r"```json\n(.*?)```", section, flags=re.S).group(1)
        record = _parse(f"sensors/test-device-7/{stream}", payload.encode())
        assert not isinstance(record, Rejection), (stream, record.detail)


# --- the payload cap in docs/mqtt.md ---------------------------------------------------------


def test_mqtt_doc_gives_the_payload_cap_the_broker_and_the_config_enforce():
    """16 MiB: the installed broker's max_packet_size, and the most a limit may be set to."""
    text = MQTT_MD.read_text()
    limits = text[text.index("## Size limits"):text.index("## Invalid messages")]
    installed = re.search(r"^max_packet_size (\d+)$", BROKER_CONF.read_text(), flags=re.M)
    assert int(installed.group(1)) == BROKER_MESSAGE_LIMIT == 16 * 1024 * 1024
    assert "at most **16 MiB**" in limits and "(16 777 216 bytes)" in limits
    assert "`max_packet_size` 16 MiB" in limits
    checks = {f.name: f.metadata["check"] for f in fields(IntakeSection)}
    for key in ("max_audio_bytes", "max_vibration_bytes"):
        assert checks[key](BROKER_MESSAGE_LIMIT) is None, key
        assert checks[key](BROKER_MESSAGE_LIMIT + 1) is not None, key
    assert "telemetry one to 1 MiB" in limits
    assert checks["max_telemetry_bytes"](1024 * 1024) is None
    assert checks["max_telemetry_bytes"](1024 * 1024 + 1) is not None


# --- who may read the secrets: configuration.md, install.md and what the installer does ------

INSTALL_MD = REPO / "docs" / "install.md"
INSTALLER = REPO / "scripts" / "install"
UNIT = REPO / "systemd" / "sensor-gateway.service"


def test_the_installers_secret_files_are_root_only():
    installer = INSTALLER.read_text()
    assert 'install -m 0600 "$2" "$dest"' in installer  # install_secret: $dest in $CREDS
    assert 'chmod 0700 "$CREDS"' in installer
    assert "T_CREDS=$T_ETC/credentials" in installer
    assert "User=sensor-gateway" in UNIT.read_text()


def test_configuration_and_install_say_the_same_about_the_token_file():
    configuration, install = CONFIGURATION_MD.read_text(), INSTALL_MD.read_text()
    assert ("stores the token in `/etc/sensor-gateway/credentials/sync-token`, readable by "
            "root only") in install
    secrets = configuration[configuration.index("## Secrets"):]
    assert "`/etc/sensor-gateway/credentials/sync-token` and `.../mqtt-password`, owned by " \
           "root,\n  mode `600`, in a folder of mode `700`" in secrets
    assert "owned by that user" not in secrets  # what it said before: not what is installed
    for line in re.findall(r"^LoadCredential=.*$", UNIT.read_text(), flags=re.M):
        assert f"  {line}\n" in secrets, line  # the unit's own lines, as shown


# --- install.md's troubleshooting: a row per field problem, quoting what the gateway says -----

GATEWAY_SRC = REPO / "gateway"
# problem -> (text the row must quote, the source file that says it)
TROUBLE_QUOTES = {
    "Cloud unreachable": [("upload failed, records kept for a later try", "delivery/uplink.py"),
                          ("failing (", "ops/status.py"), ("cannot reach ", "delivery/uplink.py"),
                          ("sync.ca_file", "delivery/uplink.py")],
    "Audio analysis unavailable": [
        ("running without a part; the rest goes on", "service/degraded.py"),
        ("UNAVAILABLE", "service/degraded.py"),
        ("the daemon runs without audio analysis; audio windows wait", "ops/doctor.py"),
        ("part available again", "service/degraded.py")],
    "A device shown `silent`": [("device silent", "service/silence.py"),
                                ("device heard again", "service/silence.py"),
                                ("SILENT:     ", "ops/status.py"),
                                ("nothing received since ", "ops/status.py"),
                                ("it usually sends every ", "service/silence.py")],
    "Damaged store": [("is damaged (", "store/database.py"),
                      ("is empty (0 bytes): it was cut short", "store/database.py"),
                      ("it is left as it is", "store/database.py")],
    "Clock wrong": [("CLOCK WRONG: ", "ops/status.py"),
                    ("before this software was built", "service/clock.py"),
                    ("before the last message stored", "service/clock.py"),
                    ("the gateway's clock looks wrong; data is kept with its own time stamps",
                     "daemon.py")],
}


def source_text(relative: str) -> str:
    """A module's text with adjacent string literals across lines joined ("a "\n  "b")."""
    return re.sub(r'"\s*\n\s*f?"', "", (GATEWAY_SRC / relative).read_text())


def trouble_rows() -> dict[str, str]:
    text = INSTALL_MD.read_text()
    table = text[text.index("## Troubleshooting"):]
    return dict(re.findall(r"^\| \*\*(.+?)\*\* \|(.*)$", table, flags=re.M))


@pytest.mark.parametrize("problem", sorted(TROUBLE_QUOTES))
def test_install_troubleshooting_quotes_what_the_gateway_says(problem):
    row = trouble_rows().get(problem)
    assert row, f"no {problem!r} row in docs/install.md's troubleshooting table"
    for quote, source in TROUBLE_QUOTES[problem]:
        assert quote in row, (problem, quote)
        assert quote.strip() in source_text(source), (source, quote)


def test_the_damaged_store_row_moves_the_files_check_store_names():
    row = trouble_rows()["Damaged store"]
    said = source_text("store/database.py")
    assert "move it and its -wal and -shm files out of the data dir" in said
    assert "sudo mv gateway.db gateway.db-wal gateway.db-shm" in row
    assert "sudo systemctl reset-failed sensor-gateway" in row


def test_install_mqtt_examples_log_in_as_a_box_over_tls():
    """The installed broker refuses anonymous clients on both listeners (the loopback one is
    the gateway's alone): a technician's test message needs a box account and TLS."""
    conf = BROKER_CONF.read_text()
    assert conf.count("allow_anonymous false") >= 2 and "\nallow_anonymous true" not in conf
    lines = re.findall(r"^mosquitto_pub .*$", INSTALL_MD.read_text(), flags=re.M)
    assert lines
    for line in lines:
        args = shlex.split(line)
        assert args[args.index("-p") + 1] == "8883", line
        assert args[args.index("--cafile") + 1] == "/etc/mosquitto/certs/sensor-gateway/ca.crt"
        box = args[args.index("-u") + 1]
        assert args[args.index("-t") + 1].startswith(f"sensors/{box}/"), line  # its ACL
        assert f"--add-box {box}" in INSTALL_MD.read_text()
