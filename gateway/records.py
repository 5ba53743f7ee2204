"""The records that flow from sources into the store.

Sources build these; the intake writer persists them. They are immutable
named tuples, so a record can cross threads without anyone mutating it on the
way, and so that building one per message and turning it into a table row
costs next to nothing on the intake hot path (a frozen dataclass costs ~5x).
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

STREAMS = ("audio", "vibration", "telemetry")


def storable_text(text: str) -> str:
    """Text as the store (and the journal) can keep it: characters UTF-8 cannot encode, such
    as a lone surrogate from a JSON escape, become backslash escapes. Everything a sender
    wrote that the gateway keeps as text (rejection details, topics) goes through here."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def content_digest(topic: str, payload: bytes, stamp: str = "") -> bytes:
    """Identity of a message: a broker redelivery (same topic, payload and sender-given time
    stamp) has the same digest, so it is stored once."""
    # surrogatepass: a topic or stamp holding a lone surrogate still has an identity (the
    # same bytes as before for any text UTF-8 can encode), instead of raising in intake.
    # Hashed part by part: joining them first copied the payload (8 MiB for a large WAV).
    digest = hashlib.sha256(topic.encode("utf-8", "surrogatepass"))
    for part in (stamp.encode("utf-8", "surrogatepass"), payload):
        digest.update(b"\0")
        digest.update(part)
    return digest.digest()


STAMP_BYTES = 8
# Of the content digest, what a telemetry key keeps (since migration 0013; 32 before): 128
# bits, and two different messages share a key only if they share the box's time stamp too.
# Each byte is written four times per message (the row and its index entry, each in the WAL
# and again by the checkpoint).
KEY_DIGEST_BYTES = 16


def telemetry_key(stamp_ms: int, digest: bytes) -> bytes:
    """The stored identity of a telemetry message (its `digest` column, UNIQUE): the box's
    own time stamp (epoch ms, 0 when the payload carried no usable one), 8 bytes big-endian
    and offset so that order is kept for times before 1970, then the first KEY_DIGEST_BYTES
    of the content digest.

    Both parts come from topic and payload alone, so a redelivery, however late, has the
    same key and is stored once. And keys grow with time: a commit's messages land on the
    last page or two of the key's index, where a bare digest (random) dirtied one random
    page of it per message, which every checkpoint copied again (docs/performance.md,
    "Wear"). Rows stored before migration 0009 hold the bare digest, rows stored between
    0009 and 0013 the whole digest after the stamp: store/database.py finds either by the
    key's prefix (a duplicate whenever it comes back)."""
    return (stamp_ms + 2**63).to_bytes(STAMP_BYTES, "big") + digest[:KEY_DIGEST_BYTES]


class Window(NamedTuple):
    """One audio or vibration capture window, stored raw for later analysis."""

    device_id: str
    stream: str  # "audio" | "vibration"
    source: str  # "mqtt" | "mic"
    topic: str
    captured_at_ms: int
    received_at_ms: int
    sample_rate: float
    channels: int
    frames: int
    duration_s: float
    encoding: str  # "pcm16" | "pcm24" | "pcm32" | "float32" | "json"
    digest: bytes
    payload: bytes
    # The sender's sequence number (docs/mqtt.md), None when it sent none.
    seq: int | None = None
    # Why the capture time is doubtful ("ahead", "before_2000", "unusable"), None when it
    # is plausible; the window is kept either way, with its receipt time beside it.
    ts_flag: str | None = None


class Telemetry(NamedTuple):
    """One telemetry message, validated."""

    device_id: str
    topic: str
    ts_ms: int
    received_at_ms: int
    digest: bytes  # telemetry_key(box time stamp, content_digest)
    data: str  # the payload's JSON text, as received
    seq: int | None = None  # the sender's sequence number, as for Window
    ts_flag: str | None = None  # as for Window


class Rejection(NamedTuple):
    """A message that was not valid: kept for the operator, never stored as data."""

    topic: str
    received_at_ms: int
    reason: str  # short machine code, e.g. "not_json"
    detail: str  # one human sentence
    payload_size: int
    sample: bytes  # the first bytes of the payload, bounded
    digest: bytes


Record = Window | Telemetry | Rejection
