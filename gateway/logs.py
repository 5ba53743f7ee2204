"""One line per event, key=value, to stdout for the journal.

Call sites log a short event name and pass fields with `extra=kv(...)`:
    log.info("batch committed", extra=kv(records=500, ms=3.1))
→   level=info logger=gateway.intake msg="batch committed" records=500 ms=3.1
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from gateway.records import storable_text

_FIELDS = "_kv"
NOISY_LIBRARIES = ("huey", "urllib3", "paho")


def kv(**fields: Any) -> dict[str, Any]:
    """Fields for one log line, passed as `extra=`."""
    return {_FIELDS: fields}


def _quote(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    text = storable_text(text)  # a lone surrogate would make the output stream raise
    if text == "" or any(c in text for c in ' "=\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class KeyValueFormatter(logging.Formatter):
    def __init__(self, with_time: bool = True):
        super().__init__()
        self.with_time = with_time

    def format(self, record: logging.LogRecord) -> str:
        parts = []
        if self.with_time:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            parts.append(f"ts={stamp}.{int(record.msecs):03d}Z")
        parts += [f"level={record.levelname.lower()}", f"logger={record.name}",
                  f"msg={_quote(record.getMessage())}"]
        parts += [f"{k}={_quote(v)}" for k, v in getattr(record, _FIELDS, {}).items()]
        if record.exc_info:
            parts.append(f"exc={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


def setup_logging(level: str = "info", with_time: bool | None = None) -> None:
    """Route all logging to stdout; the journal adds its own timestamps under systemd."""
    if with_time is None:
        with_time = sys.stdout.isatty()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(KeyValueFormatter(with_time))
    logging.getLogger().handlers[:] = [handler]
    set_level(level)


def set_level(level: str) -> None:
    """The gateway's log level; chatty libraries stay at warning or above."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


class RateLimitedLog:
    """Logs the first event of each key at once, then at most one line per key per interval,
    saying how many were suppressed, so a flood of one bad message type cannot fill the journal."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0, clock=time.monotonic):
        self.logger, self.interval_s, self.clock = logger, interval_s, clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, **fields: Any) -> None:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            fields["suppressed_since_last"] = suppressed
        self.logger.warning(msg, extra=kv(**fields))
