"""The local microphone source: audio from a microphone wired to the gateway itself.

It is one more sensor box: its audio is cut into fixed windows, encoded as PCM16 WAV and
submitted as `source="mic"` Window records under a configured device id. Capture sits behind a
seam (`CaptureDevice`) so the source runs, and is tested, without PyAudio (the 'mic' extra).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from gateway.intake.payloads import audio_window
from gateway.interfaces import RecordSink
from gateway.logs import kv
from gateway.records import Window
from gateway.service.loop import Loop
from gateway.wav import encode_wav

try:
    import pyaudio
except ImportError:  # the optional 'mic' extra: fail when a microphone is opened, not at import
    pyaudio = None

log = logging.getLogger("gateway.mic")

INSTALL_HINT = (
    "PyAudio is missing: run the installer again with --mic (sudo ./scripts/install --mic), "
    "or set mic.enabled = false"
)
SAMPLE_BYTES = 2  # int16
CHUNK_S = 0.1  # longest single read, so stop() never waits long on the device
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 30.0
JOIN_TIMEOUT_S = 5.0


class CaptureError(RuntimeError):
    """A microphone failure a technician can act on: says what failed, where, and what to do."""


class CaptureDevice(Protocol):
    """An open input; `read` blocks until `frames` frames of interleaved little-endian int16."""

    def read(self, frames: int) -> bytes: ...

    def close(self) -> None: ...


class PyAudioCapture:
    """A PortAudio input stream, as returned by `open_pyaudio_capture`."""

    def __init__(self, pa: Any, stream: Any, name: str):
        self._pa, self._stream, self.name = pa, stream, name
        self._closed = False

    def read(self, frames: int) -> bytes:
        try:
            # An overflow (we were late, PortAudio lost samples) must not stop capture. PyAudio
            # does not report overflows it does not raise, so they are not counted.
            return self._stream.read(frames, exception_on_overflow=False)
        except OSError as exc:
            raise CaptureError(
                f"reading microphone {self.name!r} failed: {exc}; "
                "check it is still plugged in (arecord -l)"
            ) from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._stream.stop_stream()
            self._stream.close()
        except OSError as exc:  # a vanished device cannot be stopped; still release PortAudio
            log.warning("microphone stream close failed", extra=kv(input=self.name, error=exc))
        finally:
            self._pa.terminate()


def open_pyaudio_capture(
    input_device: str, sample_rate: int, channels: int, frames_per_buffer: int
) -> PyAudioCapture:
    """Open an int16 input: "" = system default, digits = device index, else a name substring."""
    if pyaudio is None:
        raise CaptureError(INSTALL_HINT)
    pa = pyaudio.PyAudio()
    try:
        index, name = resolve_input_device(pa, input_device)
        stream = _open_stream(pa, index, name, sample_rate, channels, frames_per_buffer)
    except BaseException:
        pa.terminate()  # PortAudio keeps the sound system claimed until terminated
        raise
    log.info("microphone opened", extra=kv(input=name, sample_rate=sample_rate, channels=channels))
    return PyAudioCapture(pa, stream, name)


def resolve_input_device(pa: Any, input_device: str) -> tuple[int | None, str]:
    """(PortAudio index, or None for the system default; device name) for mic.input_device."""
    devices = (pa.get_device_info_by_index(i) for i in range(pa.get_device_count()))
    inputs = [(int(d["index"]), str(d["name"])) for d in devices if d["maxInputChannels"] > 0]
    if input_device == "":
        try:
            return None, str(pa.get_default_input_device_info()["name"])
        except OSError:  # PyAudio's way of saying there is no default input
            problem = "there is no default audio input"
    else:
        for index, name in inputs:
            if _matches(input_device, index, name):
                return index, name
        problem = f"no audio input matches mic.input_device = {input_device!r}"
    available = ", ".join(f"{i}: {n!r}" for i, n in inputs) or "none (is a microphone plugged in?)"
    raise CaptureError(
        f"{problem}; available inputs: {available}. Set mic.input_device to one of these "
        'names or index numbers, or "" for the system default'
    )


def _matches(input_device: str, index: int, name: str) -> bool:
    if input_device.isdigit():
        return int(input_device) == index
    return input_device.casefold() in name.casefold()


def _open_stream(pa: Any, index: int | None, name: str, rate: int, channels: int, buffer: int):
    try:
        return pa.open(format=pyaudio.paInt16, channels=channels, rate=rate, input=True,
                       input_device_index=index, frames_per_buffer=buffer)
    except (OSError, ValueError) as exc:
        raise CaptureError(
            f"cannot open microphone {name!r} at {rate} Hz with {channels} channel(s): {exc}; "
            "check the device supports mic.sample_rate and mic.channels "
            "(arecord --dump-hw-params) and that no other program is using it"
        ) from exc


class MicSource:
    """Cuts a capture device's audio into fixed windows and submits each as a Window record."""

    name = "mic"

    def __init__(self, device: CaptureDevice, *, device_id: str, sample_rate: int, channels: int,
                 window_s: float, clock: Callable[[], float] = time.time,
                 reopen: Callable[[], CaptureDevice] | None = None,
                 retry_initial_s: float = RETRY_INITIAL_S):
        self._device: CaptureDevice | None = device
        self._device_id, self._topic = device_id, f"mic/{device_id}/audio"
        self._rate, self._channels = sample_rate, channels
        self._window_frames = max(1, round(window_s * sample_rate))
        self._chunk_frames = max(1, min(self._window_frames, round(CHUNK_S * sample_rate)))
        self._clock, self._reopen = clock, reopen
        self._retry_initial_s = self._retry_s = retry_initial_s
        self._sink: RecordSink | None = None
        self._loop = Loop("mic-capture", self._turn, finally_=self._close_device)
        self._stopping = self._loop.stopping
        self._pending_frames = 0  # frames of the window being read, dropped if it never completes
        self.windows_captured = 0
        self.windows_dropped = 0
        self.frames_dropped = 0

    def start(self, sink: RecordSink) -> None:
        if self._loop.started:
            raise RuntimeError("MicSource can only be started once")
        self._sink = sink
        self._loop.start()

    def stop(self) -> None:
        if not self._loop.started:
            self._loop.stop(JOIN_TIMEOUT_S)
            self._close_device()
            return
        # Closing under a blocked read can crash PortAudio: when the join times out, the
        # thread closes the device itself once its read returns.
        self._loop.stop(JOIN_TIMEOUT_S)

    def _turn(self) -> None:
        """One window read and submitted; a device failure is recovered from, or ends it."""
        assert self._sink is not None  # set by start()
        captured_at_ms = round(self._clock() * 1000)
        try:
            pcm = self._read_window()
        except (CaptureError, OSError) as exc:
            if not self._recover(exc):
                self._stopping.set()
            return
        if pcm is not None:
            self._submit(self._sink, pcm, captured_at_ms)

    def _read_window(self) -> bytes | None:
        """One window of PCM, or None if stop() came first (the partial window is dropped)."""
        chunks = []
        self._pending_frames = 0
        while self._pending_frames < self._window_frames:
            if self._stopping.is_set():
                self._drop_partial(logging.INFO, "stopped")
                return None
            frames = min(self._chunk_frames, self._window_frames - self._pending_frames)
            chunks.append(self._read_chunk(frames))
            self._pending_frames += frames
        self._pending_frames = 0
        return b"".join(chunks)

    def _read_chunk(self, frames: int) -> bytes:
        if self._device is None:  # closed by a failed read; reopened before the next one
            raise CaptureError("the microphone is not open")
        data = self._device.read(frames)
        expected = frames * self._channels * SAMPLE_BYTES
        if len(data) != expected:  # a short read would silently shift every later sample
            raise CaptureError(
                f"microphone returned {len(data)} bytes for {frames} frames, expected {expected}; "
                "check mic.channels matches the device"
            )
        return data

    def _submit(self, sink: RecordSink, pcm: bytes, captured_at_ms: int) -> None:
        try:
            sink.submit(self._build_window(pcm, captured_at_ms))
        except Exception:  # not the device's fault: drop this window, keep the microphone running
            self.windows_dropped += 1
            log.exception("microphone window dropped",
                          extra=kv(device=self._device_id, captured_at_ms=captured_at_ms))
            return
        self.windows_captured += 1
        self._retry_s = self._retry_initial_s  # a whole window arrived: the device is healthy

    def _build_window(self, pcm: bytes, captured_at_ms: int) -> Window:
        samples = np.frombuffer(pcm, "<i2").reshape(-1, self._channels) / 32768.0
        return audio_window(
            device_id=self._device_id, topic=self._topic, source="mic",
            payload=encode_wav(samples, self._rate, "pcm16"),
            captured_at_ms=captured_at_ms, received_at_ms=round(self._clock() * 1000),
            stamp=str(captured_at_ms),
        )

    def _recover(self, exc: Exception) -> bool:
        """Close the failed device and reopen it after a backoff; False ends the capture loop."""
        self._drop_partial(logging.WARNING, "read_error")
        self._close_device()
        if self._reopen is None:
            log.error("microphone read failed; capture stopped (no reopen configured)",
                      extra=kv(device=self._device_id, error=exc))
            return False
        log.error("microphone read failed; retrying",
                  extra=kv(device=self._device_id, error=exc, retry_in_s=self._retry_s))
        while not self._stopping.wait(self._retry_s):
            self._retry_s = min(self._retry_s * 2, RETRY_MAX_S)
            try:
                self._device = self._reopen()
            except (CaptureError, OSError) as err:
                log.error("microphone reopen failed; retrying",
                          extra=kv(device=self._device_id, error=err, retry_in_s=self._retry_s))
                continue
            log.info("microphone reopened", extra=kv(device=self._device_id))
            return True
        return False

    def _drop_partial(self, level: int, reason: str) -> None:
        if self._pending_frames:
            self.frames_dropped += self._pending_frames
            log.log(level, "partial microphone window dropped",
                    extra=kv(device=self._device_id, reason=reason, frames=self._pending_frames))
            self._pending_frames = 0

    def _close_device(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            device.close()
        except Exception as exc:  # closing is best effort; the next open reports real trouble
            log.warning("microphone close failed", extra=kv(device=self._device_id, error=exc))
