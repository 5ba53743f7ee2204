"""The composition root: builds the pipeline, starts it in order, stops it in reverse.

Flow: sources (MQTT bridge, microphone) → intake writer → store.
Signal handlers only set a flag; the main thread does the stopping.
"""

from __future__ import annotations

import logging
import signal
import threading

from gateway.config import Config
from gateway.intake import IntakeWriter
from gateway.interfaces import Source
from gateway.logs import kv
from gateway.mqtt_bridge import MqttBridge
from gateway.runlock import RunLock
from gateway.sources.mic import MicSource, open_pyaudio_capture
from gateway.store import IntakeStore

log = logging.getLogger("gateway.daemon")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Daemon:
    def __init__(self, config: Config):
        self.config = config
        self.stop_requested = threading.Event()
        self.lock = RunLock(config.gateway.data_dir)
        self.store: IntakeStore | None = None
        self.writer: IntakeWriter | None = None
        self.bridge: MqttBridge | None = None
        self.sources: list[Source] = []

    def request_stop(self, signum: int | None = None, frame=None) -> None:
        self.stop_requested.set()

    def start(self) -> None:
        """Store first, intake sources last, so nothing arrives before it can be kept."""
        cfg = self.config
        self.lock.acquire()
        self.store = IntakeStore(cfg.store_path, rejected_keep=cfg.intake.rejected_keep)
        self.writer = IntakeWriter(self.store, cfg.intake)
        self.writer.start()
        if cfg.mic.enabled:
            self.sources.append(self._make_mic())
        self.bridge = MqttBridge(cfg)
        self.sources.append(self.bridge)
        for source in self.sources:
            source.start(self.writer)
        log.info("gateway started", extra=kv(gateway_id=cfg.gateway.id,
                                             data_dir=cfg.gateway.data_dir,
                                             sources=",".join(s.name for s in self.sources)))

    def _make_mic(self) -> MicSource:
        mic = self.config.mic

        def open_device():
            return open_pyaudio_capture(mic.input_device, mic.sample_rate, mic.channels,
                                        frames_per_buffer=int(mic.sample_rate * 0.1))

        return MicSource(open_device(), device_id=mic.device_id, sample_rate=mic.sample_rate,
                         channels=mic.channels, window_s=mic.window_s, reopen=open_device)

    def stop(self) -> None:
        """Stop intake, commit and acknowledge what was taken, say offline, close."""
        log.info("gateway stopping")
        for source in reversed(self.sources):
            source.stop()
        if self.writer:
            self.writer.stop()
        if self.bridge:
            self.bridge.close()
        if self.store:
            self.store.close()
        self.lock.release()
        log.info("gateway stopped")

    def run(self) -> int:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self.request_stop)
        try:
            self.start()
            self.stop_requested.wait()
        finally:
            # Also after a failed start: commit what was taken, close what was opened.
            self.stop()
        return 0
