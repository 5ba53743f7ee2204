"""The detection benchmark's windows replayed in one process: the daemon's analysis and
verdict (gateway.inference: the shipped model, the condition features, `judge` per device,
in sending order), the benchmark's plan and figures (bench/detection.py), no broker, no
store. For trying a detector change on every set in minutes instead of an hour; the figures
that count are still bench/detection's, through the real daemon.

The windows are generated once per set and kept on a tape (their WAV or JSON payloads, as
the boxes would publish them, with what each was), so a change to the features or the
verdict replays without generating the sound again; `--reuse-features` also keeps each
window's features from the last replay (a change to the verdict or the baseline only).
Vibration windows are left out unless `--vibration` (audio changes do not move them).

    .venv/bin/python -m bench.detection_replay --generators salesfloor,kitchen \\
        [--tapes DIR] [--reuse-features] [--vibration] [--json] [--windows FILE]

The replay reproduced the daemon's figures to the last digit in the rounds it was used for
(docs/inference.md, rounds 8-9): windows of one device are judged in the order they were
sent, as the daemon's result writer saves them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import pickle
import struct
import sys
import time
from pathlib import Path

import numpy as np

from bench import detection
from bench.detection_figures import Sent, print_kinds
from gateway.config import InferenceSection
from gateway.daemon import verdict_rules
from gateway.inference.model import AudioModel, shipped_model_path
from gateway.inference.results import Outcome
from gateway.inference.verdict import DeviceMemory, Observation, judge
from gateway.inference.worker import Vibration, audio_outcome, decode_window, vibration_outcome

HEADER = struct.Struct("<II")  # lengths of a record's JSON header and of its payload


class Tape:
    """A set's windows in sending order: (Sent, payload) records, written once, read back."""

    def __init__(self, path: Path):
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def write(self, records) -> None:
        partial = self.path.with_suffix(".partial")
        with partial.open("wb") as out:
            for sent, payload in records:
                head = json.dumps({"device": sent.device, "stream": sent.stream,
                                   "ts_ms": sent.ts_ms, "phase": sent.phase, "kind": sent.kind,
                                   "severity": sent.severity, "running": bool(sent.running),
                                   "levels": np.asarray(sent.levels).tolist()}).encode()
                out.write(HEADER.pack(len(head), len(payload)))
                out.write(head)
                out.write(payload)
        partial.rename(self.path)  # a tape cut short by a stopped run is never read

    def read(self):
        with self.path.open("rb") as tape:
            while header := tape.read(HEADER.size):
                head_len, payload_len = HEADER.unpack(header)
                head = json.loads(tape.read(head_len))
                levels = np.asarray(head.pop("levels"))
                yield Sent(**head, levels=levels), tape.read(payload_len)


class Recorder:
    """What bench/detection's senders call (its Boxes' audio and vibration), kept as records."""

    def __init__(self, vibration: bool):
        self.records: list[tuple[Sent, bytes]] = []
        self.vibration_on = vibration

    def audio(self, sent: Sent, samples: np.ndarray, rate: int) -> None:
        self.records.append((sent, detection.audio_message(sent, samples, rate)))

    def vibration(self, sent: Sent, xyz: np.ndarray, rate: int,
                  payload: str | None = None) -> None:
        if self.vibration_on:
            message = detection.vibration_message(sent, xyz, rate, payload)
            self.records.append((sent, message.encode()))


def record(name: str, args, vibration: bool) -> list[tuple[Sent, bytes]]:
    """The windows bench/detection sends for one generator, in its order."""
    boxes = Recorder(vibration)
    detection.send_audio(boxes, detection.source_for(name, args.seed), args, detection.START_S)
    detection.send_extras(boxes, name, args)
    return boxes.records


class Daemon:
    """The daemon's analysis and verdict, one window at a time; results and alerts as the
    subscriber receives them (score, threshold, anomaly, details; device_id, ts, state)."""

    def __init__(self, args):
        # bench/detection's daemon: every [inference] key at its default but these two
        self.rules = verdict_rules(InferenceSection(baseline_windows=args.baseline,
                                                    baseline_hours=args.baseline_hours), {})
        self.model = AudioModel(args.model or shipped_model_path())
        self.memory: dict[tuple[str, str], DeviceMemory] = {}
        self.results: dict[tuple, dict] = {}
        self.alerts: list[dict] = []

    def outcome(self, sent: Sent, payload: bytes) -> Outcome:
        if sent.stream == "audio":
            return audio_outcome(payload, self.model, lambda analysed_s: None)
        xyz, rate = decode_window(payload)
        return vibration_outcome(Vibration(xyz, rate))

    def judge(self, sent: Sent, outcome: Outcome) -> None:
        key = (sent.device, sent.stream)
        memory = self.memory.get(key) or DeviceMemory(model=outcome.model, vectors=())
        observation = Observation(outcome.observation.features, outcome.observation.severe,
                                  ts_ms=sent.ts_ms)
        verdict = judge(memory, observation, outcome.model, self.rules)
        memory = verdict.memory
        if memory.vectors is None and memory.fit is None:  # the store keeps every one
            memory = DeviceMemory(model=memory.model, vectors=())
        self.memory[key] = memory
        self.results[(sent.device, sent.stream, sent.ts_ms)] = {
            "score": verdict.score, "threshold": verdict.threshold, "anomaly": verdict.anomaly,
            "model": outcome.model, "details": {**outcome.details, **verdict.details}}
        if verdict.alert:
            self.alerts.append({"id": f"{sent.device}-{sent.ts_ms}", "device_id": sent.device,
                                "stream": sent.stream, "state": verdict.alert,
                                "ts": sent.ts_ms, "score": verdict.score,
                                "reason": verdict.reason})


def tape_path(directory: Path, name: str, args, vibration: bool) -> Path:
    sizes = (args.seed, args.units, args.baseline, args.baseline_hours, args.healthy,
             args.per_condition, args.onset, args.week_units, args.week_cadence_s,
             args.week_days, vibration)
    digest = hashlib.sha256(repr(sizes).encode()).hexdigest()[:12]
    return directory / f"{name}-{digest}.tape"


def replay(name: str, args, daemon: Daemon) -> dict:
    """Every window of one generator through `daemon`; the windows sent, by key."""
    tape = Tape(tape_path(args.tapes, name, args, args.vibration))
    if not tape.exists():
        started = time.monotonic()
        tape.write(record(name, args, args.vibration))
        print(f"replay: {name} generated in {time.monotonic() - started:.0f} s",
              file=sys.stderr)
    features_path = tape.path.with_suffix(f".features{args.features_tag}.pkl")
    reuse = args.reuse_features and features_path.exists()
    cached = pickle.loads(features_path.read_bytes()) if reuse else {}
    fresh, sent = {}, {}
    started = time.monotonic()
    for window, payload in tape.read():
        key = (window.device, window.stream, window.ts_ms)
        sent[key] = window
        outcome = cached.get(key) or daemon.outcome(window, payload)
        fresh[key] = outcome
        daemon.judge(window, outcome)
    if not reuse:
        features_path.write_bytes(pickle.dumps(fresh))
    print(f"replay: {name} analysed in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return sent


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tapes", type=Path, default=Path("/var/tmp/detection-tapes"),
                        help="where the generated windows are kept between replays")
    parser.add_argument("--reuse-features", action="store_true")
    parser.add_argument("--vibration", action="store_true")
    parser.add_argument("--features-tag", default="",
                        help="kept features are per tag: one per feature definition tried")
    own, rest = parser.parse_known_args(argv)
    args = detection.parse_args(rest)
    args.tapes, args.reuse_features, args.vibration = own.tapes, own.reuse_features, \
        own.vibration
    args.features_tag = own.features_tag
    args.tapes.mkdir(parents=True, exist_ok=True)
    daemon = Daemon(args)
    sent: dict = {}
    for name in args.generators.split(","):
        sent.update(replay(name, args, daemon))
    with contextlib.redirect_stdout(sys.stderr):
        figures, tables = detection.summarise(args, sent, daemon.results, daemon.alerts)
    if args.json:
        print(json.dumps({**figures, "kinds": tables}), flush=True)
    else:
        for key, value in figures.items():
            if not isinstance(value, list | dict):
                print(f"{key}: {value}")
        for title, table in tables.items():
            print_kinds(title, table)
    if args.windows:
        detection.write_windows(args.windows, sent, daemon.results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
