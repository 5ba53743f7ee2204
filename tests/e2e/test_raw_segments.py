"""End to end: raw windows in segment files survive SIGKILL of the real `gateway run` at the
moment it writes a segment (store/segments.py: bytes fsync'd, then the row committed)."""

from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np

from gateway.store.segments import list_segments, segment_path
from gateway.wav import encode_wav
from tests.support import stored_raw, wait_for

WINDOWS = 300
KILLS = 3


def _payload(n: int) -> bytes:
    t = np.arange(4800) / 16000  # 0.3 s: windows under 0.25 s are refused
    return encode_wav((0.1 + n / 10_000) * np.sin(2 * np.pi * (200 + n) * t)[:, None], 16000)


def _segment_sizes(raw_dir) -> dict[int, int]:
    sizes = {}
    for segment in list_segments(raw_dir):
        with contextlib.suppress(FileNotFoundError):
            sizes[segment] = segment_path(raw_dir, segment).stat().st_size
    return sizes


def _kill_when_a_segment_grows(gateway, raw_dir, sending: threading.Thread) -> bool:
    """SIGKILL the daemon the moment it has appended to a segment: its commit of the rows
    that point there is then, most of the time, not made yet. False when the sender is
    done before a write is seen."""
    before = _segment_sizes(raw_dir)
    while sending.is_alive():
        if _segment_sizes(raw_dir) != before:
            gateway.kill()
            return True
    return False


def test_sigkill_during_segment_writes_loses_no_window_and_every_raw_reads_back(
        gateway, gateway_config, publisher):
    data_dir = gateway_config.parent / "data"
    raw_dir = data_dir / "raw"
    payloads = {_payload(n): n for n in range(WINDOWS)}
    assert len(payloads) == WINDOWS
    infos = []

    def publish_all():
        for payload in payloads:
            infos.append(publisher.publish("sensors/box-1/audio", payload))
            time.sleep(0.02)  # paced: the kills land while windows keep coming

    sender = threading.Thread(target=publish_all)
    sender.start()
    wait_for(lambda: os.path.isdir(raw_dir), what="a first segment")
    kills = 0
    while kills < KILLS and _kill_when_a_segment_grows(gateway, raw_dir, sender):
        kills += 1
        time.sleep(0.3)  # let it store a little before the next kill
        gateway.start()
    sender.join(60)
    assert kills >= 1
    for info in infos:
        info.wait_for_publish(30)
    wait_for(lambda: len(stored_raw(data_dir)) >= WINDOWS, timeout_s=60,
             what=f"{WINDOWS} windows stored")
    time.sleep(0.5)  # a late redelivery must still be stored once
    stored = stored_raw(data_dir)  # reads every window's raw, checked against its CRC-32
    assert len(stored) == WINDOWS
    assert sorted(payloads[raw] for _, raw in stored) == list(range(WINDOWS))
    # A kill between the bytes and the commit leaves bytes no row points at, never the
    # reverse: the segments hold at least every stored window's bytes.
    assert sum(_segment_sizes(raw_dir).values()) >= sum(len(p) for p in payloads)
