"""The x, y, z arrays of a vibration message read straight into numpy, never as Python lists.

`json` turns a 4 MiB message into 2.1 million Python numbers (17 MB of list slots even for
small ints, 67 MB for floats) before numpy sees one, at intake to validate and again in the
analysis. Here the three axes' arrays are found in the raw bytes and read with numpy, and
the rest of the object (a few keys) goes through the caller's own `json` decoder.

This is a fast path only: `split_axes` answers None whenever it cannot prove the message is
the plain case (each axis once, at the top level, as an array of JSON numbers), and the
caller then reads the message with `json` as before. So whatever it accepts, `json` accepts
too with the same values, and every rejection is still `json`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from json.decoder import scanstring  # type: ignore[attr-defined]  # public, untyped
from typing import AnyStr, NamedTuple

import numpy as np

AXES = ("x", "y", "z")
PIECE_BYTES = 256 * 1024  # of an array's text parsed at once: at most 1 MB of floats
_WS = rb"[ \t\n\r]*"  # JSON's whitespace, nothing more
_NUMBER = rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"  # RFC 8259 section 6
# An array of numbers and nothing else; possessive, so a long one costs no backtracking state.
_NUMBER_ARRAY = re.compile(rb"\[" + _WS + rb"(?:" + _NUMBER + _WS + rb"(?:," + _WS + _NUMBER +
                           _WS + rb")*+)?\]")
_AXIS_KEY = re.compile(rb'"([xyz])"' + _WS + rb":" + _WS + rb"(?=\[)")
_TEXT_WS = re.compile(r"[ \t\n\r]*")
_BYTES_WS = re.compile(_WS)
# Any array without nested arrays or strings: in a message intake accepted, whose axes are
# arrays of numbers, this finds the axis's array without checking each number's grammar
# again (a third of what reading it cost).
_FLAT_ARRAY = re.compile(rb'\[[^\[\]"]*+\]')


class Axes(NamedTuple):
    """A vibration message split in two: `doc`, its top-level object with each axis an empty
    list; `spans`, where each axis's array of numbers lies in the payload."""

    doc: dict
    spans: dict[str, tuple[int, int]]


def split_axes(payload: bytes, decoder: json.JSONDecoder, accepted: bool = False
               ) -> Axes | None:
    """The message's axes located and the rest decoded by `decoder` (its hooks apply), or
    None when that is not certain; None too for anything `decoder` refuses. `accepted`: the
    message passed intake, so its axes are arrays of JSON numbers (the analysis's reading):
    their grammar is not checked again."""
    spans: dict[str, tuple[int, int]] = {}
    arrays = _FLAT_ARRAY if accepted else _NUMBER_ARRAY
    for key in _AXIS_KEY.finditer(payload):
        array = arrays.match(payload, key.end())
        name = key.group(1).decode()
        if array is None or name in spans:  # a key inside a string, or twice: let json judge
            return None
        spans[name] = array.span()
    if len(spans) != len(AXES):
        return None
    try:
        text, holes = _skeleton(payload, spans)
        members = _members(text, decoder)
        if members is None:
            return None
        pairs = [(key, value) for key, value, _ in members]
        hook = getattr(decoder, "object_pairs_hook", None)  # typed as always set; it is not
        doc = hook(pairs) if hook else dict(pairs)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, a hook's refusal: json says
        return None
    starts = {key: start for key, _, start in members}
    # Each hole must be the value of its own axis's key at the top level, not text inside a
    # string or a nested object that merely looks like one.
    if any(starts.get(name) != holes[name] for name in AXES):
        return None
    return Axes(doc, spans)


def _skeleton(payload: bytes, spans: dict[str, tuple[int, int]]
              ) -> tuple[str, dict[str, int]]:
    """The payload as text with each axis's array replaced by [], and where (in characters)
    each of those holes is. The arrays are ASCII, so the rest decodes piece by piece."""
    parts: list[str] = []
    holes: dict[str, int] = {}
    pos = length = 0
    for name, (start, end) in sorted(spans.items(), key=lambda item: item[1]):
        piece = payload[pos:start].decode("utf-8")
        holes[name] = length + len(piece)
        parts += [piece, "[]"]
        length, pos = holes[name] + 2, end
    parts.append(payload[pos:].decode("utf-8"))
    return "".join(parts), holes


def _members(text: str, decoder: json.JSONDecoder) -> list[tuple[str, object, int]] | None:
    """(key, value, where the value starts) of each member of the top-level object in
    `text`, or None when `text` is not exactly one JSON object (whitespace around it)."""
    scan = decoder.scan_once  # type: ignore[attr-defined]  # the decoder's own scanner
    i = _ws_end(_TEXT_WS, text, 0)
    if text[i:i + 1] != "{":
        return None
    i = _ws_end(_TEXT_WS, text, i + 1)
    members: list[tuple[str, object, int]] = []
    if text[i:i + 1] == "}":
        return members if _ws_end(_TEXT_WS, text, i + 1) == len(text) else None
    while True:
        if text[i:i + 1] != '"':
            return None
        key, i = scanstring(text, i + 1, True)
        i = _ws_end(_TEXT_WS, text, i)
        if text[i:i + 1] != ":":
            return None
        start = _ws_end(_TEXT_WS, text, i + 1)
        try:
            value, i = scan(text, start)
        except StopIteration:
            return None
        members.append((key, value, start))
        i = _ws_end(_TEXT_WS, text, i)
        if text[i:i + 1] == "}":
            return members if _ws_end(_TEXT_WS, text, i + 1) == len(text) else None
        if text[i:i + 1] != ",":
            return None
        i = _ws_end(_TEXT_WS, text, i + 1)


def _ws_end(whitespace: re.Pattern[AnyStr], text: AnyStr, i: int) -> int:
    """Where the JSON whitespace from i ends (the pattern also matches nothing)."""
    match = whitespace.match(text, i)
    assert match is not None
    return match.end()


def axis_pieces(payload: bytes, span: tuple[int, int], piece_bytes: int = PIECE_BYTES
                ) -> Iterator[np.ndarray]:
    """One axis's numbers as float64, about piece_bytes of text at a time (so never more
    than a piece's floats beside the caller's own), each exactly as float() reads its text:
    numpy parses with Python's own correctly rounded conversion, so an integer token gives
    float(int(token)), and one too large for a float gives inf, as float() of its text does."""
    start, end = span[0] + 1, span[1] - 1  # inside the brackets
    if _ws_end(_BYTES_WS, payload, start) == end:  # []
        return
    while start < end:
        cut = payload.find(b",", min(start + piece_bytes, end), end)
        stop = end if cut < 0 else cut
        yield _numbers(payload[start:stop])
        start = stop + 1


def axis_length(payload: bytes, span: tuple[int, int]) -> int:
    """How many numbers the axis at `span` holds (one more than its commas, or none)."""
    start, end = span[0] + 1, span[1] - 1
    return 0 if _ws_end(_BYTES_WS, payload, start) == end else \
        payload.count(b",", start, end) + 1


def read_axis(payload: bytes, span: tuple[int, int]) -> np.ndarray:
    """axis_pieces in one array."""
    pieces = list(axis_pieces(payload, span))
    return np.concatenate(pieces) if pieces else np.empty(0, np.float64)


def _numbers(text: bytes) -> np.ndarray:
    count = text.count(b",") + 1
    values = np.fromstring(text, dtype=np.float64, count=count, sep=",")
    if values.size != count:  # cannot happen for a span split_axes matched
        raise ValueError(f"read {values.size} of {count} numbers")
    _integer_zeros_positive(text, values)
    return values


def _integer_zeros_positive(text: bytes, values: np.ndarray) -> None:
    """json reads the integer -0 as int 0, hence 0.0; numpy as -0.0 (as -0.0 and -0e1 are).
    Only the tokens of the negative zeros are looked at: a regex over the whole text, for
    the -0.0s of a small signal rounded to 3 places, was 40 % of reading a 3,200-sample axis."""
    negative_zeros = np.flatnonzero((values == 0) & np.signbit(values))
    if negative_zeros.size == 0:
        return
    commas = np.flatnonzero(np.frombuffer(text, np.uint8) == ord(","))
    starts, ends = np.concatenate(([0], commas + 1)), np.append(commas, len(text))
    for i in negative_zeros:
        if text[starts[i]:ends[i]].strip(b" \t\n\r") == b"-0":
            values[i] = 0.0
