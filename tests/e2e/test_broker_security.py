"""The broker as scripts/install sets it up (issue 12.2, 12.3, 12.9; issue 13.10), through a
real Mosquitto: the installer runs into a temp root (tests/e2e/test_install.py tells how the
machine stays untouched), adds boxes and a reader, and the installed drop-in with its
accounts, ACL and certificate is started on free ports.
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config import load_config
from gateway.devtools.local_broker import InstalledMosquitto
from tests.e2e.test_install import Installer, build_wheel
from tests.support import GatewayProcess, status_json, wait_for, write_config

GATEWAY_ID = "gw-sec"
# /etc/mosquitto/mosquitto.conf as Debian's package ships it.
DEBIAN_MOSQUITTO_CONF = """\
pid_file /run/mosquitto/mosquitto.pid
persistence true
persistence_location /var/lib/mosquitto/
log_dest file /var/log/mosquitto/mosquitto.log
include_dir /etc/mosquitto/conf.d
"""
NOT_AUTHORISED = 135  # MQTT v5 reason code in PUBACK / CONNACK


class BrokerInstaller(Installer):
    def __init__(self, workdir: Path, wheel: Path, site_conf: str = DEBIAN_MOSQUITTO_CONF,
                 conf_d: dict[str, str] | None = None):
        super().__init__(workdir, wheel)
        mosquitto = self.path("/etc/mosquitto")
        (mosquitto / "conf.d").mkdir(parents=True)
        (mosquitto / "mosquitto.conf").write_text(site_conf)
        for name, text in (conf_d or {}).items():
            (mosquitto / "conf.d" / name).write_text(text)

    def attempt(self, *args: str) -> subprocess.CompletedProcess:
        env = {"PATH": f"{self.bin}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
        return subprocess.run(
            ["bash", str(Path(__file__).resolve().parents[2] / "scripts" / "install"),
             "--root", str(self.root), "--package", str(self.wheel),
             "--pip-args", "--no-deps --no-index", "--no-systemctl", *args],
            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)

    def add(self, kind: str, name: str) -> str:
        """--add-box / --add-reader: the password it printed."""
        output = self.run("--no-systemctl", f"--add-{kind}", name)
        return re.search(r"password:\s+(\S+)", output).group(1)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def site(tmp_path_factory, wheel):
    """One install with Debian's mosquitto.conf, two boxes and a reader."""
    installer = BrokerInstaller(tmp_path_factory.mktemp("site"), wheel)
    installer.output = installer.run("--no-systemctl", "--id", GATEWAY_ID)
    installer.passwords = {name: installer.add(kind, name) for kind, name in
                           (("box", "box-1"), ("box", "box-2"), ("reader", "display"))}
    return installer


@pytest.fixture
def mosquitto(site, tmp_path):
    broker = InstalledMosquitto(tmp_path / "broker", site.root).start()
    yield broker
    broker.stop()


def client(broker: InstalledMosquitto, user: str | None, password: str | None = None, *,
           client_id: str = "", tls: bool = True) -> tuple[mqtt.Client, ReasonCode | None]:
    """A connected MQTT v5 client (or the refusal): on the TLS listener unless tls=False,
    which means the loopback one."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    connack: list[ReasonCode] = []
    done = threading.Event()
    c.on_connect = lambda cl, ud, flags, rc, props: (connack.append(rc), done.set())
    if user:
        c.username_pw_set(user, password)
    if tls:
        c.tls_set(ca_certs=str(broker.ca_file), cert_reqs=ssl.CERT_REQUIRED)
    c.connect("127.0.0.1", broker.tls_port if tls else broker.port)
    c.loop_start()
    done.wait(10)
    if not connack or connack[0].is_failure:
        c.loop_stop()
        return c, connack[0] if connack else None
    return c, None


ACCEPTED = (0, 16)  # success, and success with no subscriber (MQTT v5)


def puback_code(c: mqtt.Client, topic: str, payload: str, retain: bool = False) -> int:
    codes: list[int] = []
    c.on_publish = lambda cl, ud, mid, rc, props: codes.append(rc.value)
    c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    wait_for(lambda: codes, what="PUBACK")
    return codes[0]


def gateway_password(site: BrokerInstaller) -> str:
    return site.path("/etc/sensor-gateway/credentials/mqtt-password").read_text().strip()


# --- 12.2 accounts and ACL ---------------------------------------------------------------


def test_the_install_gives_the_gateway_an_account_in_its_config_and_credentials(site):
    config = site.path("/etc/sensor-gateway/config.toml").read_text()
    assert 'username = "sensor-gateway"' in config
    assert "password" not in re.sub(r"(?m)^#.*$", "", config).replace("password_file", "")
    secret = site.path("/etc/sensor-gateway/credentials/mqtt-password")
    assert len(secret.read_text().strip()) >= 20 and secret.stat().st_mode & 0o077 == 0
    # the password is shown once and never written in clear where the broker reads
    for name in ("sensor-gateway.passwd", "sensor-gateway-local.passwd"):
        text = site.path(f"/etc/mosquitto/{name}").read_text()
        for password in (*site.passwords.values(), gateway_password(site)):
            assert password not in text


def test_anonymous_clients_are_refused_on_both_listeners(mosquitto):
    for tls in (True, False):
        _, refused = client(mosquitto, None, tls=tls)
        assert refused is not None and refused.value == NOT_AUTHORISED, tls


def test_a_wrong_password_and_a_box_on_the_loopback_listener_are_refused(site, mosquitto):
    _, refused = client(mosquitto, "box-1", "not-its-password")
    assert refused is not None and refused.value == NOT_AUTHORISED
    _, refused = client(mosquitto, "box-1", site.passwords["box-1"], tls=False)
    assert refused is not None and refused.value == NOT_AUTHORISED
    _, refused = client(mosquitto, "sensor-gateway", gateway_password(site), tls=True)
    assert refused is not None and refused.value == NOT_AUTHORISED


def test_the_lan_listener_speaks_tls_only(site, mosquitto):
    plain = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    plain.username_pw_set("box-1", site.passwords["box-1"])
    with pytest.raises((OSError, mqtt.WebsocketConnectionError, ValueError)) as refused:
        plain.connect("127.0.0.1", mosquitto.tls_port)
        for _ in range(50):  # the broker drops a client that does not start TLS
            if plain.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
                raise OSError("disconnected")
    assert refused.value is not None


def test_a_box_writes_only_its_own_streams(site, mosquitto):
    seen: list[str] = []
    watcher, _ = client(mosquitto, "sensor-gateway", gateway_password(site), tls=False,
                        client_id="watcher")
    watcher.on_message = lambda cl, ud, msg: seen.append(msg.topic)
    watcher.subscribe([("sensors/#", 1), ("gateway/#", 1)])
    time.sleep(0.3)
    box, _ = client(mosquitto, "box-1", site.passwords["box-1"])
    assert puback_code(box, "sensors/box-1/telemetry", "{}") in ACCEPTED
    assert puback_code(box, "sensors/box-2/telemetry", "{}") == NOT_AUTHORISED
    assert puback_code(box, f"gateway/{GATEWAY_ID}/status", '{"state":"online"}',
                       retain=True) == NOT_AUTHORISED
    assert puback_code(box, f"gateway/{GATEWAY_ID}/box-2/alert", "{}") == NOT_AUTHORISED
    # streams are exactly three: a box cannot pile retained messages under other topics
    assert puback_code(box, "sensors/box-1/junk-7", "x" * 1000, retain=True) == NOT_AUTHORISED
    wait_for(lambda: "sensors/box-1/telemetry" in seen, what="the box's own message")
    time.sleep(0.3)
    assert seen == ["sensors/box-1/telemetry"]
    box.disconnect()
    watcher.disconnect()


def test_a_reader_reads_everything_and_writes_nothing(site, mosquitto):
    seen: list[str] = []
    reader, _ = client(mosquitto, "display", site.passwords["display"])
    reader.on_message = lambda cl, ud, msg: seen.append(msg.topic)
    reader.subscribe([("sensors/#", 1), ("gateway/#", 1)])
    time.sleep(0.3)
    box, _ = client(mosquitto, "box-2", site.passwords["box-2"])
    assert puback_code(box, "sensors/box-2/audio", "RIFF") in ACCEPTED
    gateway, _ = client(mosquitto, "sensor-gateway", gateway_password(site), tls=False)
    assert puback_code(gateway, f"gateway/{GATEWAY_ID}/box-2/result", "{}") in ACCEPTED
    for topic in ("sensors/display/telemetry", "sensors/box-2/telemetry",
                  f"gateway/{GATEWAY_ID}/status"):
        assert puback_code(reader, topic, "{}") == NOT_AUTHORISED, topic
    wait_for(lambda: len(seen) == 2, what="the reader's two messages")
    assert sorted(seen) == [f"gateway/{GATEWAY_ID}/box-2/result", "sensors/box-2/audio"]
    for c in (reader, box, gateway):
        c.disconnect()


def test_no_box_can_take_the_gateways_session_and_the_gateway_still_works(site, mosquitto,
                                                                          tmp_path):
    config = write_config(
        tmp_path / "config.toml", gateway_id=GATEWAY_ID, data_dir=tmp_path / "data",
        port=mosquitto.port,
        extra='').read_text().replace(
        'topic_prefix = "sensors"\n',
        'topic_prefix = "sensors"\nusername = "sensor-gateway"\n'
        f'password_file = "{site.path("/etc/sensor-gateway/credentials/mqtt-password")}"\n')
    (tmp_path / "config.toml").write_text(config)
    gateway = GatewayProcess(tmp_path / "config.toml", tmp_path / "gateway.log").start()
    try:
        gateway_id = f"sensor-gateway-{GATEWAY_ID}"
        for _ in range(5):  # what kicked the gateway 14 times in 20 s before
            thief, refused = client(mosquitto, "box-1", site.passwords["box-1"],
                                    client_id=gateway_id)
            assert refused is None
            thief.disconnect()
            thief.loop_stop()
        box, _ = client(mosquitto, "box-2", site.passwords["box-2"])
        for seq in range(20):
            box.publish("sensors/box-2/telemetry", json.dumps(
                {"device_id": "box-2", "temperature": -18.0 + seq}), qos=1).wait_for_publish(10)
        wait_for(lambda: status_json(tmp_path / "config.toml")["received"]["telemetry"] == 20,
                 timeout_s=20, what="all 20 messages stored")
        assert gateway.log_text().count("connected to broker") == 1, gateway.log_text()
        # the broker named each of the thief's connections after its user, not the gateway
        log = mosquitto.log_path.read_text()
        assert log.count(" as box-1 ") == 5 and log.count(f" as {gateway_id} ") == 1, log
        box.disconnect()
    finally:
        gateway.ensure_stopped()


def test_a_revoked_box_is_refused_and_cut_off(site, mosquitto, tmp_path, wheel):
    own = BrokerInstaller(tmp_path / "own", wheel)
    own.run("--no-systemctl", "--id", "gw-revoke")
    password = own.add("box", "box-9")
    broker = InstalledMosquitto(tmp_path / "own-broker", own.root).start()
    try:
        box, refused = client(broker, "box-9", password)
        assert refused is None
        dropped = threading.Event()
        box.on_disconnect = lambda *args: dropped.set()
        output = own.run("--no-systemctl", "--revoke", "box-9")
        assert "revoked box-9" in output
        broker.reload()
        assert dropped.wait(10), "a connected box keeps its session after --revoke"
        box.loop_stop()
        _, refused = client(broker, "box-9", password)
        assert refused is not None and refused.value == NOT_AUTHORISED
        assert own.run("--no-systemctl", "--broker-users").split() == []
    finally:
        broker.stop()
    own.run("--uninstall", "--purge", "--no-systemctl")
    for gone in ("sensor-gateway.passwd", "sensor-gateway-local.passwd", "sensor-gateway.acl",
                 "certs/sensor-gateway"):
        assert not own.path(f"/etc/mosquitto/{gone}").exists(), gone


def test_an_install_from_before_broker_accounts_is_left_working(tmp_path, wheel):
    """A site whose config has no broker username (installed before accounts existed):
    the installer must not give the gateway a password without a user name (a config
    error: the service would not start) nor put in broker settings that shut it out."""
    site = BrokerInstaller(tmp_path, wheel)
    old_drop_in = "listener 1883 127.0.0.1\nallow_anonymous true\n"
    site.path("/etc/mosquitto/conf.d/sensor-gateway.conf").write_text(old_drop_in)
    config = site.path("/etc/sensor-gateway/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text((Path(__file__).resolve().parents[2] / "config.toml").read_text())
    output = site.run("--no-systemctl")
    assert 'no username = "sensor-gateway"' in output
    creds = site.path("/etc/sensor-gateway/credentials")
    assert not (creds / "mqtt-password").exists()
    load_config(config, environ={"CREDENTIALS_DIRECTORY": str(creds)})  # no ConfigError
    assert site.path("/etc/mosquitto/conf.d/sensor-gateway.conf").read_text() == old_drop_in
    assert not site.path("/etc/mosquitto/conf.d/sensor-gateway.conf.new").exists()


def test_account_commands_refuse_what_would_be_wrong(site):
    for args, message in ((["--add-box", "box-1"], "already has an account"),
                          (["--add-box", "sensor-gateway"], "the gateway's own"),
                          (["--add-box", "a/b"], "must be 1 to 64"),
                          (["--revoke", "nobody-here"], "no box or reader named")):
        result = site.attempt(*args)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr)
    assert sorted(site.run("--no-systemctl", "--broker-users").split()) \
        == ["box-1", "box-2", "display"]


def test_a_second_install_keeps_accounts_readers_and_certificate(site):
    keep = ("/etc/mosquitto/sensor-gateway.passwd", "/etc/mosquitto/sensor-gateway-local.passwd",
            "/etc/mosquitto/sensor-gateway.acl",
            "/etc/mosquitto/certs/sensor-gateway/server.crt",
            "/etc/sensor-gateway/credentials/mqtt-password")
    before = {name: site.path(name).read_bytes() for name in keep}
    site.run("--no-systemctl")
    assert {name: site.path(name).read_bytes() for name in keep} == before
    assert "user display" in before["/etc/mosquitto/sensor-gateway.acl"].decode()


# --- 12.9 bounds -------------------------------------------------------------------------


def test_a_packet_over_the_limit_is_refused_and_the_broker_carries_on(site, mosquitto):
    box, _ = client(mosquitto, "box-1", site.passwords["box-1"])
    dropped = threading.Event()
    box.on_disconnect = lambda *args: dropped.set()
    box.publish("sensors/box-1/audio", b"\0" * (16 * 1024 * 1024 + 1), qos=1)
    assert dropped.wait(20), "a 16 MiB + 1 B message was taken"
    box.loop_stop()
    again, refused = client(mosquitto, "box-1", site.passwords["box-1"])
    assert refused is None
    assert puback_code(again, "sensors/box-1/telemetry", "{}") in ACCEPTED
    again.disconnect()


def test_the_broker_starts_without_a_warning_about_its_settings(mosquitto):
    """Mosquitto 2.0 notes that message_size_limit should be max_packet_size."""
    wait_for(lambda: " running" in mosquitto.log_path.read_text(), what="the broker running")
    lines = [line for line in mosquitto.log_path.read_text().splitlines()
             if ("Warning" in line or "Note" in line) and "run as root" not in line]
    assert lines == []


# --- 13.10 Mosquitto's log in the journal -------------------------------------------------


def test_refused_logins_reach_the_journal_at_once(site, mosquitto):
    client(mosquitto, "box-1", "not-its-password")
    # Mosquitto's stdout and stderr, where systemd takes the journal from; its own log file
    # (Debian's log_dest file) is elsewhere.
    wait_for(lambda: "not authorised" in mosquitto.log_path.read_text(), timeout_s=10,
             what="the refused login in what the journal gets")


# --- 12.3 a site's own broker settings -----------------------------------------------------


def test_an_ordinary_debian_broker_is_test_started_before_it_is_changed(site):
    assert "test start of Mosquitto with these settings (spare ports): ok" in site.output


@pytest.mark.parametrize("site_conf, conf_d, error", [
    (DEBIAN_MOSQUITTO_CONF.replace("include_dir", "allow_anonymous false\n"
                                   "password_file /etc/mosquitto/site.passwd\ninclude_dir"),
     {}, "per_listener_settings"),
    (DEBIAN_MOSQUITTO_CONF,
     {"auth.conf": "allow_anonymous false\npassword_file /etc/mosquitto/site.passwd\n"},
     "per_listener_settings"),
    (DEBIAN_MOSQUITTO_CONF.replace("include_dir", "listener 1883\ninclude_dir"), {}, "in use"),
], ids=["auth-before-include-dir", "auth-file-in-conf-d", "own-listener-on-1883"])
def test_a_site_config_that_would_stop_mosquitto_is_refused_and_left_alone(
        tmp_path, wheel, site_conf, conf_d, error):
    installer = BrokerInstaller(tmp_path, wheel, site_conf, conf_d)
    (installer.path("/etc/mosquitto/site.passwd")).write_text("")
    before = sorted(str(p.relative_to(installer.root)) for p in
                    installer.path("/etc/mosquitto").rglob("*.conf"))
    result = installer.attempt("--id", "gw-site")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Mosquitto would not start" in lines[0] and error in lines[0], \
        result.stderr
    assert not installer.path("/etc/mosquitto/conf.d/sensor-gateway.conf").exists()
    assert sorted(str(p.relative_to(installer.root)) for p in
                  installer.path("/etc/mosquitto").rglob("*.conf")) == before


def test_a_site_from_before_accounts_switches_over_as_security_md_says(tmp_path, wheel):
    site = BrokerInstaller(tmp_path, wheel)
    old_drop_in = "listener 1883 127.0.0.1\nallow_anonymous true\n"
    drop_in = site.path("/etc/mosquitto/conf.d/sensor-gateway.conf")
    drop_in.write_text(old_drop_in)
    config = site.path("/etc/sensor-gateway/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text((Path(__file__).resolve().parents[2] / "config.toml").read_text()
                      .replace('username = ""', 'username = "sensor-gateway"'))  # step 1
    site.run("--no-systemctl")  # step 2
    assert drop_in.read_text() == old_drop_in
    password = site.add("box", "box-1")  # step 3
    drop_in.with_name("sensor-gateway.conf.new").rename(drop_in)  # step 4
    broker = InstalledMosquitto(tmp_path / "broker", site.root).start()
    try:
        creds = site.path("/etc/sensor-gateway/credentials")
        loaded = load_config(config, environ={"CREDENTIALS_DIRECTORY": str(creds)})
        gateway, refused = client(broker, loaded.mqtt.username, loaded.mqtt.password, tls=False)
        assert refused is None
        box, refused = client(broker, "box-1", password)
        assert refused is None
        for c in (gateway, box):
            c.disconnect()
    finally:
        broker.stop()


def test_the_acl_follows_the_configs_topic_prefixes(tmp_path, wheel):
    site = BrokerInstaller(tmp_path, wheel)
    config = site.path("/etc/sensor-gateway/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text((Path(__file__).resolve().parents[2] / "config.toml").read_text()
                      .replace('username = ""', 'username = "sensor-gateway"')
                      .replace('topic_prefix = "sensors"', 'topic_prefix = "site-7/sensors"')
                      .replace('out_prefix = ""', 'out_prefix = "site-7/gw"'))
    site.run("--no-systemctl")
    password = site.add("box", "box-1")
    broker = InstalledMosquitto(tmp_path / "broker", site.root).start()
    try:
        gateway, _ = client(broker, "sensor-gateway", gateway_password(site), tls=False)
        gateway.subscribe("site-7/sensors/#", qos=1)
        assert puback_code(gateway, "site-7/gw/box-1/result", "{}") in ACCEPTED
        assert puback_code(gateway, "gateway/gw-0001/status", "{}") == NOT_AUTHORISED
        box, _ = client(broker, "box-1", password)
        assert puback_code(box, "site-7/sensors/box-1/telemetry", "{}") in ACCEPTED
        assert puback_code(box, "sensors/box-1/telemetry", "{}") == NOT_AUTHORISED
        for c in (gateway, box):
            c.disconnect()
    finally:
        broker.stop()


def test_a_given_gateway_password_replaces_the_made_one(site, tmp_path):
    given = tmp_path / "mqtt-password"
    given.write_text("given-password-123\n")
    site.run("--no-systemctl", "--mqtt-password-file", str(given))
    broker = InstalledMosquitto(tmp_path / "broker", site.root).start()
    try:
        _, refused = client(broker, "sensor-gateway", "given-password-123", tls=False)
        assert refused is None
        assert gateway_password(site) == "given-password-123"
    finally:
        broker.stop()
