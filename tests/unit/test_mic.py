"""The microphone source, driven through the CaptureDevice seam by a fake device."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time

import numpy as np
import pytest

from gateway.logs import KeyValueFormatter
from gateway.sources.mic import (
    CaptureDevice,
    CaptureError,
    MicSource,
    open_pyaudio_capture,
    resolve_input_device,
)
from gateway.wav import decode_wav

RATE = 8_000
WINDOW_S = 0.25
WINDOW_FRAMES = 2_000
T0 = 1_700_000_000.0
WAIT_S = 5.0  # upper bound for the capture thread; tests finish far sooner


class FakeClock:
    """Time follows the frames the fake device has delivered, as it would for a real one."""

    def __init__(self):
        self.frames = 0

    def __call__(self) -> float:
        return T0 + self.frames / RATE


def tone(start: int, frames: int, channels: int) -> np.ndarray:
    """A different sine per channel, continuous across reads, with both int16 extremes."""
    n = np.arange(start, start + frames)[:, None]
    wave = np.sin(2 * np.pi * 220 * np.arange(1, channels + 1)[None, :] * n / RATE)
    samples = np.clip(np.round(wave * 32768), -32768, 32767).astype("<i2")
    samples[n[:, 0] % 1000 == 0] = -32768
    samples[n[:, 0] % 1000 == 500] = 32767
    return samples


class FakeCapture:
    """Fills the CaptureDevice seam; `fail_on_read` makes that read (1-based) raise OSError."""

    def __init__(self, clock: FakeClock, channels: int = 1, *, fail_on_read: int | None = None,
                 realtime: bool = False):
        self.clock, self.channels = clock, channels
        self.fail_on_read, self.realtime = fail_on_read, realtime
        self.reads = 0
        self.produced: list[np.ndarray] = []
        self.close_calls = 0
        self.first_read = threading.Event()
        self.closed = threading.Event()

    def read(self, frames: int) -> bytes:
        self.reads += 1
        self.first_read.set()
        if self.reads == self.fail_on_read:
            raise OSError("[Errno -9999] Unanticipated host error")
        if self.realtime:
            time.sleep(frames / RATE)  # a real device blocks until the frames are recorded
        block = tone(self.clock.frames, frames, self.channels)
        self.clock.frames += frames
        self.produced.append(block)
        return block.tobytes()

    def close(self) -> None:
        self.close_calls += 1
        self.closed.set()


class ListSink:
    def __init__(self, want: int = 1, fail_first: int = 0):
        self.records: list = []
        self.on_durable: list = []
        self.want, self.fail_first = want, fail_first
        self.enough = threading.Event()

    def submit(self, record, on_durable=None) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise RuntimeError("store is full")
        self.records.append(record)
        self.on_durable.append(on_durable)
        if len(self.records) >= self.want:
            self.enough.set()


def make_source(device: CaptureDevice, clock: FakeClock, channels: int = 1, **kwargs) -> MicSource:
    return MicSource(device, device_id="gw-mic", sample_rate=RATE, channels=channels,
                     window_s=WINDOW_S, clock=clock, **kwargs)


def capture(source: MicSource, sink: ListSink) -> list:
    source.start(sink)
    try:
        assert sink.enough.wait(WAIT_S), f"only {len(sink.records)} windows captured"
    finally:
        source.stop()
    return sink.records


@pytest.mark.parametrize("channels", [1, 2])
def test_windows_have_configured_shape(channels):
    clock = FakeClock()
    device = FakeCapture(clock, channels)
    source = make_source(device, clock, channels)
    records = capture(source, ListSink(want=3))

    for window in records[:3]:
        assert (window.device_id, window.stream, window.source) == ("gw-mic", "audio", "mic")
        assert window.topic == "mic/gw-mic/audio"
        assert (window.sample_rate, window.channels) == (RATE, channels)
        assert (window.frames, window.duration_s) == (WINDOW_FRAMES, WINDOW_S)
        assert window.encoding == "pcm16"
    assert source.windows_captured == len(records)
    assert device.close_calls == 1


def test_capture_times_step_by_one_window():
    clock = FakeClock()
    sink = ListSink(want=4)
    capture(make_source(FakeCapture(clock), clock), sink)

    starts = [w.captured_at_ms for w in sink.records[:4]]
    assert starts == [round(T0 * 1000) + i * 250 for i in range(4)]
    assert [w.received_at_ms - w.captured_at_ms for w in sink.records[:4]] == [250] * 4
    assert sink.on_durable[:4] == [None] * 4  # the mic cannot be re-asked: nothing to ack


@pytest.mark.parametrize("channels", [1, 2])
def test_payload_decodes_to_the_device_samples(channels):
    clock = FakeClock()
    device = FakeCapture(clock, channels)
    source = make_source(device, clock, channels)
    records = capture(source, ListSink(want=3))

    decoded = [decode_wav(w.payload) for w in records]
    assert {rate for _, rate in decoded} == {RATE}
    stored = np.concatenate([samples for samples, _ in decoded]) * 32768
    sent = np.concatenate(device.produced)[: len(stored)].astype(np.float64)
    assert stored.shape == sent.shape == (len(records) * WINDOW_FRAMES, channels)
    assert np.abs(stored - sent).max() <= 1.0  # within 1 LSB, as the brief allows


def test_stop_is_prompt_drops_partial_window_and_closes_device(caplog):
    caplog.set_level(logging.INFO, logger="gateway.mic")
    clock = FakeClock()
    device = FakeCapture(clock, realtime=True)
    source = MicSource(device, device_id="gw-mic", sample_rate=RATE, channels=1, window_s=5.0,
                       clock=clock)
    sink = ListSink()
    source.start(sink)
    assert device.first_read.wait(WAIT_S)

    began = time.monotonic()
    source.stop()

    assert time.monotonic() - began < 1.0
    assert device.close_calls == 1
    assert sink.records == []
    assert source.frames_dropped > 0
    assert any(r.getMessage() == "partial microphone window dropped" for r in caplog.records)


def test_stop_before_start_closes_device():
    clock = FakeClock()
    device = FakeCapture(clock)
    make_source(device, clock).stop()
    assert device.close_calls == 1


def test_read_error_reopens_device_and_capture_continues(caplog):
    clock = FakeClock()
    broken = FakeCapture(clock, fail_on_read=2)  # fails inside the first window
    spare = FakeCapture(clock)
    reopened = []

    def reopen() -> FakeCapture:
        reopened.append(spare)
        return spare

    source = make_source(broken, clock, reopen=reopen, retry_initial_s=0.01)
    sink = ListSink(want=3)
    capture(source, sink)

    assert reopened == [spare]
    assert (broken.close_calls, spare.close_calls) == (1, 1)
    assert sink.records[0].captured_at_ms == round(T0 * 1000) + 100
    drops = [KeyValueFormatter(with_time=False).format(r) for r in caplog.records
             if r.levelno == logging.WARNING]
    assert "reason=read_error frames=800" in drops[0]  # the broken window's first 0.1 s chunk
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["microphone read failed; retrying"]


def test_failed_reopen_is_retried(caplog):
    clock = FakeClock()
    spare = FakeCapture(clock)
    attempts = []

    def reopen() -> FakeCapture:
        attempts.append(1)
        if len(attempts) == 1:
            raise CaptureError("cannot open microphone 'USB': device busy")
        return spare

    source = make_source(FakeCapture(clock, fail_on_read=1), clock, reopen=reopen,
                         retry_initial_s=0.01)
    capture(source, ListSink(want=1))

    assert len(attempts) == 2
    assert "microphone reopen failed; retrying" in [r.getMessage() for r in caplog.records]


def test_read_error_without_reopen_ends_capture_and_logs(caplog):
    clock = FakeClock()
    device = FakeCapture(clock, fail_on_read=1)
    source = make_source(device, clock)
    sink = ListSink()
    source.start(sink)
    assert device.closed.wait(WAIT_S)
    source.stop()

    assert sink.records == [] and device.close_calls == 1
    (error,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    line = KeyValueFormatter(with_time=False).format(error)
    assert "capture stopped" in line and "device=gw-mic" in line
    assert "Unanticipated host error" in line


def test_failed_submit_drops_one_window_and_keeps_capturing(caplog):
    clock = FakeClock()
    source = make_source(FakeCapture(clock), clock)
    sink = ListSink(want=2, fail_first=1)
    capture(source, sink)

    assert source.windows_dropped == 1
    assert sink.records[0].captured_at_ms == round(T0 * 1000) + 250
    assert "microphone window dropped" in [r.getMessage() for r in caplog.records]


@pytest.mark.skipif(importlib.util.find_spec("pyaudio") is not None, reason="PyAudio installed")
def test_open_without_pyaudio_names_the_installers_option():
    # Issue 13.3: the hint was a pip command that does not apply to an installed box.
    with pytest.raises(CaptureError, match=r"scripts/install --mic.*mic\.enabled = false"):
        open_pyaudio_capture("", RATE, 1, 800)


class FakePortAudio:
    """The part of PyAudio's device listing that `resolve_input_device` reads."""

    def __init__(self, default: int | None = 1):
        self.devices = [
            {"index": 0, "name": "HDA Intel PCH: HDMI 0 (hw:0,3)", "maxInputChannels": 0},
            {"index": 1, "name": "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "maxInputChannels": 2},
            {"index": 2, "name": "USB PnP Sound Device: Audio (hw:1,0)", "maxInputChannels": 1},
        ]
        self.default = default

    def get_device_count(self) -> int:
        return len(self.devices)

    def get_device_info_by_index(self, index: int) -> dict:
        return self.devices[index]

    def get_default_input_device_info(self) -> dict:
        if self.default is None:
            raise OSError("No Default Input Device Available")
        return self.devices[self.default]


@pytest.mark.parametrize(("wanted", "expected"), [
    ("", (None, "HDA Intel PCH: ALC3246 Analog (hw:0,0)")),
    ("2", (2, "USB PnP Sound Device: Audio (hw:1,0)")),
    ("usb pnp", (2, "USB PnP Sound Device: Audio (hw:1,0)")),
])
def test_input_device_selection(wanted, expected):
    assert resolve_input_device(FakePortAudio(), wanted) == expected


@pytest.mark.parametrize(("wanted", "default", "problem"), [
    ("0", 1, "no audio input matches"),  # an output-only device is not an input
    ("webcam", 1, "no audio input matches mic.input_device = 'webcam'"),
    ("", None, "there is no default audio input"),
])
def test_unknown_input_device_lists_the_inputs(wanted, default, problem):
    with pytest.raises(CaptureError) as raised:
        resolve_input_device(FakePortAudio(default), wanted)
    message = str(raised.value)
    assert problem in message
    assert "1: 'HDA Intel PCH: ALC3246 Analog (hw:0,0)'" in message
    assert "2: 'USB PnP Sound Device: Audio (hw:1,0)'" in message
    assert "HDMI" not in message
