"""The sensor-box simulator against a real Mosquitto, checked with the gateway's own parser."""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np
import pytest

from gateway.config import IntakeSection
from gateway.devtools import synth
from gateway.devtools.local_broker import free_port
from gateway.devtools.simulator.boxes import REJECTION_REASON, FaultPlan, SimConfig
from gateway.devtools.simulator.fleet import Simulator, main
from gateway.intake.payloads import Inbound, parse_message
from gateway.records import Rejection, Telemetry, Window
from gateway.wav import decode_wav
from tests.support import Subscriber, wait_for

FAST = {"window_every_s": 0.2, "vibration_every_s": 0.2, "telemetry_every_s": 0.2,
        "duty_off_s": 0.0, "summary_every_s": 0.5}


class StampedSubscriber(Subscriber):
    """Subscriber that also keeps each message's `ts` user property."""

    def __init__(self, port: int, topic: str = "sensors/#"):
        self.received: list[tuple[str, bytes, str | None]] = []
        super().__init__(port, topic)

    def _on_message(self, client, userdata, message) -> None:
        stamps = dict(getattr(message.properties, "UserProperty", None) or ())
        with self._lock:
            self.received.append((message.topic, message.payload, stamps.get("ts")))

    def snapshot(self) -> list[tuple[str, bytes, str | None]]:
        with self._lock:
            return list(self.received)


@pytest.fixture
def listen(broker):
    subscriber = StampedSubscriber(broker.port)
    wait_for(subscriber.client.is_connected, what="subscriber connected")
    time.sleep(0.1)  # the SUBACK follows the CONNACK
    yield subscriber
    subscriber.close()


def simulate(broker, seconds: float, **options) -> Simulator:
    """Run a simulator for a while, then stop it and wait until every message arrived."""
    simulator = Simulator(SimConfig(port=broker.port, **{**FAST, **options})).start()
    assert simulator.wait_connected(5)
    time.sleep(seconds)
    simulator.stop()
    return simulator


def sent_total(stats: dict[str, int]) -> int:
    return sum(stats[k] for k in ("audio", "vibration", "telemetry", "duplicate",
                                  *REJECTION_REASON))


def parse(message) -> object:
    topic, payload, ts = message
    return parse_message(Inbound(topic, payload, int(time.time() * 1000), ts), "sensors",
                         IntakeSection())


def audio_of(messages, device: str) -> list[np.ndarray]:
    return [decode_wav(p)[0][:, 0] for t, p, _ in messages if t == f"sensors/{device}/audio"]


def band_energy(samples: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    hz = np.fft.rfftfreq(samples.size, 1 / 16000)
    return float(spectrum[(hz >= low) & (hz < high)].sum())


def test_every_message_is_valid_for_the_gateway(broker, listen):
    simulator = simulate(broker, 1.2, boxes=3)
    stats = simulator.stats
    wait_for(lambda: len(listen.snapshot()) == sent_total(stats), what="all messages")
    now_ms = time.time() * 1000
    kinds = Counter()
    for message in listen.snapshot():
        record = parse(message)
        assert isinstance(record, Window | Telemetry), (message[0], record)
        kinds[message[0].rsplit("/", 1)[1]] += 1
        if message[0].endswith("/audio"):
            assert message[2] is not None and now_ms - 5000 < int(message[2]) < now_ms
    assert kinds == {s: stats[s] for s in ("audio", "vibration", "telemetry")}
    assert min(kinds.values()) >= 3 * 4
    assert stats["acked"] == sent_total(stats) and stats["dropped"] == 0
    assert {t.split("/")[1] for t, _, _ in listen.snapshot()} == {"box-1", "box-2", "box-3"}


def test_boxes_sound_different(broker, listen):
    simulator = simulate(broker, 0.8, boxes=2, window_every_s=0.1)
    wait_for(lambda: len(listen.snapshot()) == sent_total(simulator.stats), what="messages")
    edges = np.geomspace(50, 8000, 25)  # third-octave-like bands: the spectral shape

    def fingerprint(samples):
        return np.log10([band_energy(samples, edges[i], edges[i + 1]) for i in range(24)])

    one, two = (np.array([fingerprint(w) for w in audio_of(listen.snapshot(), d)])
                for d in ("box-1", "box-2"))
    assert len(one) >= 5 and len(two) >= 5
    spread = max(np.abs(box - box.mean(axis=0)).mean(axis=1).max() for box in (one, two))
    assert np.abs(one.mean(axis=0) - two.mean(axis=0)).mean() > 2 * spread


def test_scripted_fault_changes_the_audio_after_its_start(broker, listen):
    plan = FaultPlan("box-2", "bearing", after_windows=4)
    simulator = simulate(broker, 1.3, boxes=2, window_every_s=0.1, faults=(plan,))
    wait_for(lambda: len(listen.snapshot()) == sent_total(simulator.stats), what="messages")
    ring = min(synth.profile_for("box-2").bearing_ring_hz, 6400)
    band = (ring - 300, ring + 300)
    for device, ratio_low, ratio_high in (("box-2", 3.0, np.inf), ("box-1", 0.0, 2.0)):
        energy = [band_energy(w, *band) for w in audio_of(listen.snapshot(), device)]
        assert len(energy) >= 9
        ratio = np.median(energy[5:]) / np.median(energy[:4])
        assert ratio_low < ratio < ratio_high, (device, energy)


def test_fault_plan_parses_and_ramps():
    plan = FaultPlan.parse("box-3:bearing:after=60:ramp=30:max=0.8")
    assert plan == FaultPlan("box-3", "bearing", after_s=60.0, ramp_s=30.0, max_severity=0.8)
    onset = plan.onset_s(first_window_s=1.5, window_every_s=5)
    assert [plan.severity(t, onset) for t in (0, 59.9, 60, 75, 90, 500)] == \
        [0, 0, 0, pytest.approx(0.4), pytest.approx(0.8), pytest.approx(0.8)]
    by_window = FaultPlan.parse("box-1:hum:windows=3")
    assert by_window.onset_s(first_window_s=1.5, window_every_s=5) == 16.5
    assert by_window.severity(16.4, 16.5) == 0 and by_window.severity(16.5, 16.5) == 1.0
    for bad, words in (("box-1:smoke", "not one of"), ("box-1", "DEVICE:KIND"),
                       ("box-1:leak:after=soon", "not a number"), ("box-1:leak:at=3", "unknown"),
                       ("box-1:leak:after=1:windows=2", "not both"),
                       ("box-1:leak:max=2", "max severity")):
        with pytest.raises(ValueError, match=words):
            FaultPlan.parse(bad)
    with pytest.raises(ValueError, match="box-9"):
        SimConfig(boxes=3, faults=(FaultPlan("box-9", "leak"),)).validate()


def test_flaky_mode_sends_duplicates_bursts_and_malformed_messages(broker, listen):
    fast = {**FAST, "window_every_s": 0.1, "vibration_every_s": 0.1, "telemetry_every_s": 0.1}
    simulator = Simulator(SimConfig(port=broker.port, boxes=6, flaky=0.5, burst_size=3,
                                    seed=5, **fast)).start()
    try:
        wait_for(lambda: all(simulator.stats[k] >= 1 for k in ("duplicate", "burst",
                                                               *REJECTION_REASON)),
                 timeout_s=20, what="every flaky kind sent")
    finally:
        simulator.stop()
    stats = simulator.stats
    wait_for(lambda: len(listen.snapshot()) == sent_total(stats), what="all messages")
    seen, valid, reasons = Counter(), Counter(), Counter()
    for message in listen.snapshot():
        seen[message] += 1
        record = parse(message)
        if isinstance(record, Rejection):
            reasons[record.reason] += 1
        else:
            valid[message[0].rsplit("/", 1)[1]] += 1
    repeats = Counter()
    for (topic, _, _), n in seen.items():
        repeats[topic.rsplit("/", 1)[1]] += n - 1
    assert repeats.total() == stats["duplicate"]
    expected = Counter()
    for kind, reason in REJECTION_REASON.items():
        expected[reason] += stats[kind]
    assert reasons == expected
    assert valid == Counter({s: stats[s] for s in ("audio", "vibration", "telemetry")}) + repeats


def test_duty_cycle_turns_the_compressor_off(broker, listen):
    simulator = simulate(broker, 1.0, boxes=1, window_every_s=0.05, duty_on_s=0.25,
                         duty_off_s=0.25)
    wait_for(lambda: len(listen.snapshot()) == sent_total(simulator.stats), what="messages")
    rms = np.array([np.sqrt(np.mean(w**2)) for w in audio_of(listen.snapshot(), "box-1")])
    loud, quiet = rms.max(), rms.min()
    assert quiet < 0.2 * loud
    assert (rms < 0.5 * loud).sum() >= 3 and (rms > 0.5 * loud).sum() >= 3


def test_same_seed_same_samples(broker, listen):
    runs = []
    for seed in (7, 7, 8):
        listen.received.clear()
        # 1.5 s for the 3 windows compared: on a loaded machine 0.5 s sometimes made 2
        simulator = simulate(broker, 1.5, boxes=1, seed=seed, window_every_s=0.1)
        wait_for(lambda s=simulator: len(listen.snapshot()) == sent_total(s.stats),
                 what="messages")
        runs.append([p for t, p, _ in listen.snapshot() if t.endswith("/audio")][:3])
    assert len(runs[0]) == 3
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_no_broker_drops_instead_of_blocking_and_stop_ends_the_threads():
    before = set(threading.enumerate())
    config = SimConfig(port=free_port(), boxes=2, max_queued=5, **{**FAST,
                                                                   "window_every_s": 0.05})
    simulator = Simulator(config).start()
    wait_for(lambda: simulator.stats["dropped"] > 0, timeout_s=5, what="drops")
    began = time.monotonic()
    simulator.stop(flush_timeout_s=0.5)
    assert time.monotonic() - began < 3
    assert simulator.stats["audio"] <= 2 * 5
    wait_for(lambda: set(threading.enumerate()) <= before, timeout_s=3,
             what="simulator threads gone")


def test_stop_ends_publishing(broker, listen):
    before = set(threading.enumerate())
    simulate(broker, 0.5, boxes=2)
    assert set(threading.enumerate()) <= before
    count = len(listen.snapshot())
    time.sleep(0.6)
    assert len(listen.snapshot()) == count > 0


def test_cli_runs_for_its_duration(broker, listen, capsys):
    began = time.monotonic()
    assert main(["--port", str(broker.port), "--boxes", "2", "--duration", "1.2",
                 "--window-every", "0.2", "--vibration-every", "0.3", "--telemetry-every",
                 "0.2", "--duty-off", "0", "--fault", "box-2:leak:after=0.5:ramp=0.5",
                 "--seed", "3"]) == 0
    assert 1.2 <= time.monotonic() - began < 5
    out = capsys.readouterr().out
    assert 'msg="simulator stopped"' in out and "device=box-2 kind=leak" in out
    assert wait_for(lambda: len(listen.snapshot()) >= 15, what="messages from the CLI run")


def test_cli_refuses_a_bad_fault(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--fault", "box-1:smoke"])
    assert exit_info.value.code == 2
    assert "not one of" in capsys.readouterr().err
    assert main(["--boxes", "2", "--fault", "box-3:leak"]) == 2
