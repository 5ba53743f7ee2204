"""The MQTT side of the gateway: intake from sensor boxes and the status topic.

paho-mqtt 2.x, MQTT v5, a persistent session (clean_start=False plus a
session expiry), so QoS 1 messages published while the gateway is down wait
at the broker. paho reconnects by itself; we subscribe in on_connect so every
new connection is subscribed. Messages are acknowledged manually, only once
the intake writer has committed them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
import time
from functools import partial
from typing import cast

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway import __version__
from gateway.config import Config
from gateway.intake.payloads import Inbound, parse_message
from gateway.interfaces import RecordSink
from gateway.logs import kv

log = logging.getLogger("gateway.mqtt")
RECONNECT_DELAY_S = (1, 30)


def _connect_properties(session_expiry_s: int, receive_maximum: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    # How many unacknowledged QoS 1 messages the broker may have in flight to us:
    # a commit batch can never grow past it, so keep it well above max_batch.
    props.ReceiveMaximum = receive_maximum
    return props


def _send_small_packets_at_once(client, userdata, sock) -> None:
    """TCP_NODELAY on the broker connection. The gateway writes a 4-byte PUBACK and, ~10 ms
    later, the window's result: Nagle's algorithm held the result until the broker's delayed
    ACK, ~40 ms on every result at a quiet site (a busy socket hid it)."""
    with contextlib.suppress(OSError, AttributeError):  # not TCP (a unix socket): nothing to do
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _user_properties(message: mqtt.MQTTMessage) -> tuple[str | None, str | None]:
    """The MQTT v5 user properties `ts` and `seq` (docs/mqtt.md), None when absent."""
    props = getattr(message, "properties", None)
    found: dict[str, str] = {}
    for key, value in getattr(props, "UserProperty", None) or ():
        if key in ("ts", "seq"):
            found.setdefault(key, value)
    return found.get("ts"), found.get("seq")


class MqttBridge:
    """Source of inbound messages (implements Source) and owner of the broker connection."""

    name = "mqtt"

    def __init__(self, config: Config):
        self.config = config
        self.status_topic = f"{config.out_prefix}/status"
        self.subscription = f"{config.mqtt.topic_prefix}/+/+"
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.received = 0
        self._sink: RecordSink | None = None
        self._accepting = False
        self._generation = 0
        self._ack_lock = threading.Lock()
        self.client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        cfg = self.config.mqtt
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.config.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        client.will_set(self.status_topic, self._status_payload("offline"), qos=1, retain=True)
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password or None)
        if cfg.tls:
            client.tls_set(ca_certs=cfg.ca_file or None, certfile=cfg.cert_file or None,
                           keyfile=cfg.key_file or None, cert_reqs=ssl.CERT_REQUIRED)
        client.reconnect_delay_set(*RECONNECT_DELAY_S)
        client.on_socket_open = _send_small_packets_at_once
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _status_payload(self, state: str) -> str:
        return json.dumps({"state": state, "gateway_id": self.config.gateway.id,
                           "version": __version__, "ts": int(time.time() * 1000)})

    def start(self, sink: RecordSink) -> None:
        """Connect in the background; paho keeps reconnecting until close()."""
        self._sink = sink
        self._accepting = True
        cfg = self.config.mqtt
        self.client.connect_async(
            cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False,
            properties=_connect_properties(cfg.session_expiry_s, cfg.receive_maximum))
        self.client.loop_start()
        log.info("connecting to broker", extra=kv(host=cfg.host, port=cfg.port,
                                                  client_id=self.config.client_id))

    def publish(self, topic: str, payload: bytes) -> mqtt.MQTTMessageInfo:
        """QoS 1 publish of the gateway's own output (results, alerts)."""
        return self.client.publish(topic, payload, qos=1)

    def is_connected(self) -> bool:
        return self.connected.is_set()

    def network_alive(self) -> bool:
        """Whether paho's network thread (loop_start) still runs: an exception escaping a
        callback ends it, and with it every reconnect and acknowledgement. paho offers no
        public way to ask, so this reads its `_thread` (paho 2.x)."""
        thread = getattr(self.client, "_thread", None)
        return thread is not None and thread.is_alive()

    def stop(self) -> None:
        """Stop taking messages; ones arriving from now on stay unacknowledged at the broker."""
        self._accepting = False

    def close(self, timeout_s: float = 5.0) -> None:
        """Announce "offline" (retained), disconnect, and stop paho's thread."""
        if self.connected.is_set():
            info = self.client.publish(self.status_topic, self._status_payload("offline"),
                                       qos=1, retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError) as e:
                log.warning("could not publish offline status", extra=kv(error=repr(e)))
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection; retrying",
                      extra=kv(reason=str(reason_code), host=self.config.mqtt.host))
            return
        with self._ack_lock:
            self._generation += 1
        # Retained messages only when the subscription is new: the persistent session keeps
        # it, and re-subscribing on every reconnect had the broker hand over the same retained
        # garbage each time (issue 12.10).
        client.subscribe(self.subscription, options=SubscribeOptions(
            qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB))
        client.publish(self.status_topic, self._status_payload("online"), qos=1, retain=True)
        self.connected.set()
        log.info("connected to broker", extra=kv(session_present=flags.session_present))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            log.error("broker refused the subscription; no sensor data will arrive",
                      extra=kv(subscription=self.subscription, reason=",".join(failed)))
            return
        self.subscribed.set()
        log.info("subscribed", extra=kv(subscription=self.subscription))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if self._accepting:
            log.warning("disconnected from broker; paho will reconnect",
                        extra=kv(reason=str(reason_code)))

    def _on_connect_fail(self, client, userdata) -> None:
        log.warning("cannot reach broker; retrying", extra=kv(host=self.config.mqtt.host,
                                                             port=self.config.mqtt.port))

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        # An exception escaping here would kill paho's network thread without a word.
        try:
            if not self._accepting:
                return
            self.received += 1
            topic = message.topic
            ts, seq = None, None
            # only audio carries a ts property, audio and vibration a seq; skip the lookup
            # for telemetry (most of the messages)
            if topic.endswith("/audio"):
                ts, seq = _user_properties(message)
            elif topic.endswith("/vibration"):
                seq = _user_properties(message)[1]
            # paho hands a received payload as bytes (bytearray only for ones it sends)
            inbound = Inbound(topic=topic, payload=cast(bytes, message.payload),
                              received_at_ms=int(time.time() * 1000), ts_property=ts,
                              seq_property=seq)
            record = parse_message(inbound, self.config.mqtt.topic_prefix, self.config.intake)
            on_durable = None
            if message.qos > 0:
                # Only the ids, not the message: holding every in-flight MQTTMessage (with its
                # Properties) until the commit made the garbage collector walk them all.
                on_durable = partial(self._ack, self._generation, message.mid, message.qos)
            sink = self._sink
            if sink is None:  # not started: nothing is subscribed yet
                return
            sink.submit(record, on_durable)
        except Exception:
            log.exception("handling an inbound message failed; it stays unacknowledged and "
                          "the broker redelivers it on reconnect",
                          extra=kv(topic=getattr(message, "topic", "?")))

    def _ack(self, generation: int, mid: int, qos: int) -> None:
        """Acknowledge, unless the connection the message came on is gone: message ids restart
        per connection, so a stale id could acknowledge a different, uncommitted message. The
        broker redelivers the message on the new connection and it is stored once."""
        with self._ack_lock:
            if generation == self._generation:
                self.client.ack(mid, qos)
