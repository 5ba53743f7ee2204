"""What a source and a record sink are.

Concrete sources (MQTT, the local microphone) live in their own modules and
depend only on this one; the daemon hands each source the sink it feeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gateway.records import Record

OnDurable = Callable[[], None]


class RecordSink(Protocol):
    """Accepts records; calls `on_durable` once the record is committed to disk."""

    def submit(self, record: Record, on_durable: OnDurable | None = None) -> None: ...


class Source(Protocol):
    """Something that produces records until stopped."""

    name: str

    def start(self, sink: RecordSink) -> None: ...

    def stop(self) -> None: ...
