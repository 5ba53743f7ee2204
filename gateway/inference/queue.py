"""The analysis queue: Huey with SQLite storage in its own file (or Redis), JSON only.

A task carries nothing but a window id; the worker reads what it needs from the
store. Huey keeps no acknowledgements (a dequeued task dies with the process),
so the store's record of which windows have results is the durable truth and
`sweep` re-enqueues whatever has none (all of them at start). The queue file therefore
needs no durability of its own, and it is the card's to spare: it commits without fsync
and checkpoints every QUEUE_CHECKPOINT_PAGES, so its few hot pages are rewritten in the
page cache and reach the card once per writeback instead of twice per task (16.5 KB per
window, docs/performance.md, Wear). A process crash loses nothing (the kernel has the
writes); a power cut may lose tasks (the sweep finds them) or leave the file damaged,
which the next open sets aside for a new one.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.exceptions import RetryTask
from huey.registry import Message
from huey.serializer import Serializer
from huey.storage import SqliteStorage

from gateway.config import Config
from gateway.logs import kv
from gateway.service.loop import UNWATCHED, Loop, Pulse
from gateway.store.database import file_problems

log = logging.getLogger("gateway.queue")
TASK_NAME = "analyse_window"
IDLE_WAIT_S = 0.5  # longest a worker sleeps on an empty queue before looking again
HEALTH_CHECK_S = 2.0  # how often dead workers and a dead scheduler are looked for
# Checkpoint the queue's WAL this often (pages): the WAL starts again from its beginning, so
# its frames land on the same few pages, still dirty in the page cache (2 per task commit).
QUEUE_CHECKPOINT_PAGES = 16
# A new queue file's page size: a task commit writes 2 pages (the task row, its index), and a
# task of ~280 bytes of JSON needs no 4 KB page (docs/performance.md, Wear, round 8).
QUEUE_PAGE_SIZE = 1024


class QueueError(Exception):
    """The queue could not be opened or used; the message says which and why."""


class JsonSerializer(Serializer):
    """Huey messages as JSON, never pickle: a queue (a file, a shared Redis) is not a place
    from which to unpickle code. Only task messages with JSON arguments pass."""

    def _serialize(self, data) -> bytes:
        if not isinstance(data, Message):
            raise TypeError(f"only task messages are queued, not {type(data).__name__}")
        fields = data._asdict()
        if fields["on_complete"] or fields["on_error"] or fields["chord_config"]:
            raise TypeError("task pipelines are not used by the gateway")
        for key in ("eta", "expires_resolved"):
            if isinstance(fields[key], datetime.datetime):
                fields[key] = fields[key].isoformat()
        return json.dumps(fields, separators=(",", ":")).encode()

    def _deserialize(self, data: bytes) -> Message:
        fields = json.loads(data)
        for key in ("eta", "expires_resolved"):
            if fields.get(key):
                fields[key] = datetime.datetime.fromisoformat(fields[key])
        fields["args"] = tuple(fields.get("args") or ())
        return Message(**{k: v for k, v in fields.items() if k in Message._fields})


class WakingSqliteStorage(SqliteStorage):
    """SqliteStorage whose idle workers wake as soon as a task is enqueued in this process.

    Huey's SQLite consumer polls with a growing back-off (up to seconds); the result
    latency goal (p95 ≤ 50 ms) needs a wake-up instead. Tasks enqueued by another process
    (`gateway dlq retry`) are still seen within IDLE_WAIT_S.
    """

    blocking = True  # tells the huey worker not to add its own sleep after an empty dequeue

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._changed = threading.Condition()
        self._generation = 0

    def _set_journal_mode(self, conn):
        # Before WAL mode and Huey's tables: SQLite fixes a file's page size when it is first
        # written, and a file in WAL mode never changes it (an older queue file keeps 4 KB).
        conn.execute(f"PRAGMA page_size = {QUEUE_PAGE_SIZE}")
        super()._set_journal_mode(conn)

    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("PRAGMA synchronous = OFF")  # see the module's docstring
        conn.execute(f"PRAGMA wal_autocheckpoint = {QUEUE_CHECKPOINT_PAGES}")
        return conn

    def enqueue(self, data, priority=None):
        super().enqueue(data, priority)
        self.wake()

    def wake(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def dequeue(self):
        seen = self._generation
        data = super().dequeue()
        if data is None:
            with self._changed:
                self._changed.wait_for(lambda: self._generation != seen, IDLE_WAIT_S)
        return data


class _QuietConsumer(Consumer):
    """Huey's consumer without its signal handlers: the daemon owns signals."""

    def _set_signal_handlers(self):
        pass


def set_aside_if_damaged(path: Path) -> None:
    """A queue file a power cut damaged (it commits without fsync) is moved to
    `<name>.damaged` (replacing an older one) and a new one is started: its tasks are all
    found again from the store by the start-up sweep, and a damaged file would fail every
    dequeue. Reads the file once (small: tasks leave it as they are taken)."""
    if not path.exists():
        return
    problems = file_problems(path, "integrity_check")
    if problems == ["ok"]:
        return
    aside = path.with_name(path.name + ".damaged")
    for suffix in ("", "-wal", "-shm"):
        part, kept = Path(f"{path}{suffix}"), Path(f"{aside}{suffix}")
        kept.unlink(missing_ok=True)  # the older damaged file's parts go with it
        if part.exists():
            part.replace(kept)
    log.warning("the analysis queue file was damaged; set aside and started anew, its "
                "windows are queued again from the store", extra=kv(
                    path=str(path), moved_to=str(aside), problem="; ".join(problems)[:200]))


def build_huey(config: Config):
    """SqliteHuey in data_dir/queue.db, or RedisHuey when queue.url is a redis:// URL."""
    common = {"results": False, "utc": True, "serializer": JsonSerializer()}
    url = config.queue.url
    name = f"sensor-gateway-{config.gateway.id}"
    try:
        if url:
            # Blocking pops: idle workers wake the moment a task arrives, from any machine.
            return RedisHuey(name, url=url, blocking=True, read_timeout=IDLE_WAIT_S, **common)
        config.gateway.data_dir.mkdir(parents=True, exist_ok=True)
        set_aside_if_damaged(config.queue_path)
        return SqliteHuey(name, filename=str(config.queue_path),
                          storage_class=WakingSqliteStorage, **common)
    except Exception as e:  # redis missing, bad URL, unwritable file
        raise QueueError(f"cannot open the analysis queue {url or config.queue_path}: {e}") from e


class AnalysisQueue:
    """The window-analysis task on a Huey instance, and the consumer running it.

    `handler(window_id)` does the work; it returns None when done, or a delay in seconds
    to try again later (transient failure); it must not raise.
    """

    def __init__(self, huey, handler: Callable[[int], float | None] | None = None):
        self.huey = huey
        self._handler = handler
        self._task = huey.task(name=TASK_NAME)(self._run)
        self.consumer: Consumer | None = None
        self._health: Loop | None = None

    def _run(self, window_id: int) -> None:
        if self._handler is None:
            raise RuntimeError("this queue only enqueues; it has no handler")
        retry_in = self._handler(int(window_id))
        if retry_in is not None:
            raise RetryTask(delay=retry_in)

    def enqueue(self, window_ids: Iterable[int]) -> int:
        """Queue analyses; returns how many were queued."""
        count = 0
        for window_id in window_ids:
            self._task(int(window_id))
            count += 1
        return count

    def enqueue_later(self, window_id: int, delay_s: float) -> None:
        """Queue one analysis to run after delay_s: the retry of a window whose result the
        result writer could not save (its task had already returned)."""
        self._task.schedule((int(window_id),), delay=delay_s)

    def depth(self) -> int:
        """Tasks waiting (not counting ones scheduled for a retry)."""
        return self.huey.pending_count()

    def scheduled(self) -> int:
        return self.huey.scheduled_count()

    def start(self, workers: int, handler: Callable[[int], float | None] | None = None,
              pulse: Pulse = UNWATCHED) -> None:
        """Run the task in `workers` threads (with `handler`, if not given at construction).

        The scheduler thread (1 s tick) moves retries whose delay has passed into the queue.
        Huey checks its workers' health only in `Consumer.run`, the loop of a process of its
        own, which the daemon's main thread is not: the check runs here in a loop of ours,
        which restarts a dead worker or scheduler (Huey's own check) and beats `pulse`."""
        if handler is not None:
            self._handler = handler
        consumer = _QuietConsumer(self.huey, workers=workers, periodic=False,
                                  initial_delay=0.05, max_delay=IDLE_WAIT_S,
                                  worker_type="thread", check_worker_health=True)
        consumer.start()
        self.consumer = consumer
        self._health = Loop("queue-health", partial(self._check_health, consumer), pulse=pulse)
        self._health.start()
        log.info("analysis workers started", extra=kv(workers=workers,
                                                      queue=type(self.huey).__name__))

    def _check_health(self, consumer: Consumer) -> None:
        assert self._health is not None  # set before the loop starts
        if not self._health.stopping.wait(HEALTH_CHECK_S):
            consumer.check_worker_health()

    def stop(self, grace_s: float) -> bool:
        """Let running analyses finish within grace_s; True when all did. An unfinished
        one is analysed again after the next start (the sweep finds it).

        `shutdown_timeout` and `_join_workers` came with Huey 3.4, pyproject.toml's floor
        (a unit test runs the queue on that very release)."""
        if self.consumer is None:
            return True
        if self._health is not None:  # first: it would restart the workers as they end
            self._health.stop(HEALTH_CHECK_S + 1)
        self.consumer.shutdown_timeout = grace_s
        storage = self.huey.storage
        self.consumer.stop_flag.set()
        if isinstance(storage, WakingSqliteStorage):
            storage.wake()
        finished = self.consumer._join_workers()
        if not finished:
            log.warning("analyses still running at stop; they are redone after the next start",
                        extra=kv(grace_s=grace_s))
        return finished

    def close(self) -> None:
        try:
            self.huey.storage.close()
        except Exception as e:
            log.warning("closing the queue failed", extra=kv(error=repr(e)))
