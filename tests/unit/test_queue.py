"""One queue contract, run against both storages: SqliteHuey (default) and RedisHuey on a real
redis-server."""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib

import pytest

from gateway.config import load_config
from gateway.inference.queue import (
    QUEUE_CHECKPOINT_PAGES,
    QUEUE_PAGE_SIZE,
    AnalysisQueue,
    JsonSerializer,
    build_huey,
)
from tests.support import REPO, wait_for

_ids = itertools.count()


@pytest.fixture(params=["sqlite", "redis"])
def config(request, tmp_path):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    path = tmp_path / "config.toml"
    path.write_text(f'[gateway]\nid = "q-{request.param}-{next(_ids)}"\n'
                    f'data_dir = "{tmp_path / "data"}"\n[queue]\nurl = "{url}"\n')
    return load_config(path)


class Recorder:
    """A handler that records calls and can fail on cue."""

    def __init__(self, retry_first: set[int] = frozenset(), hold: threading.Event | None = None):
        self.calls: list[int] = []
        self.retry_first = set(retry_first)
        self.hold = hold
        self.started = threading.Event()

    def __call__(self, window_id: int):
        self.calls.append(window_id)
        self.started.set()
        if self.hold is not None:
            self.hold.wait(10)
        if window_id in self.retry_first:
            self.retry_first.discard(window_id)
            return 0.01
        return None


def running_queue(config, handler, workers=1) -> AnalysisQueue:
    huey = build_huey(config)
    huey.flush()
    queue = AnalysisQueue(huey, handler)
    queue.start(workers)
    return queue


def test_every_enqueued_window_is_handled_once(config):
    recorder = Recorder()
    queue = running_queue(config, recorder, workers=2)
    try:
        assert queue.enqueue(range(1, 51)) == 50
        wait_for(lambda: len(recorder.calls) >= 50, what="50 handled windows")
        assert sorted(recorder.calls) == list(range(1, 51))
    finally:
        queue.stop(5)


def test_an_enqueued_task_is_picked_up_quickly(config):
    recorder = Recorder()
    queue = running_queue(config, recorder)
    try:
        time.sleep(0.3)  # let the workers go idle first
        started = time.monotonic()
        queue.enqueue([7])
        wait_for(lambda: recorder.calls, what="the task to run")
        # the latency figure itself is measured in bench/inference.py; here: no poll back-off
        assert time.monotonic() - started < 0.4
    finally:
        queue.stop(5)


def test_a_retry_runs_again_after_its_delay(config):
    recorder = Recorder(retry_first={3})
    queue = running_queue(config, recorder)
    try:
        queue.enqueue([3])
        wait_for(lambda: recorder.calls.count(3) == 2, timeout_s=10, what="the retry")
    finally:
        queue.stop(5)


def test_a_window_queued_for_later_runs_once_its_delay_passed(config):
    recorder = Recorder()
    queue = running_queue(config, recorder)
    try:
        queue.enqueue_later(9, 0.5)  # a result the result writer could not save
        wait_for(lambda: recorder.calls, what="the delayed task")
        assert recorder.calls == [9]
    finally:
        queue.stop(5)


def test_graceful_stop_lets_the_running_task_finish(config):
    hold = threading.Event()
    recorder = Recorder(hold=hold)
    queue = running_queue(config, recorder)
    queue.enqueue([1])
    assert recorder.started.wait(5)
    threading.Timer(0.3, hold.set).start()
    assert queue.stop(5) is True
    assert recorder.calls == [1]


def test_graceful_stop_gives_up_after_the_grace_period(config):
    hold = threading.Event()
    queue = running_queue(config, Recorder(hold=hold))
    queue.enqueue([1])
    time.sleep(0.3)
    started = time.monotonic()
    assert queue.stop(0.2) is False
    assert time.monotonic() - started < 2
    hold.set()


def test_tasks_are_stored_as_json_not_pickle(config):
    huey = build_huey(config)
    huey.flush()
    AnalysisQueue(huey).enqueue([42])
    raw = huey.storage.dequeue()
    assert raw.startswith(b"{") and b'"args":[42]' in raw
    assert huey.serializer.deserialize(raw).args == (42,)


def test_a_pickled_message_is_refused(config):
    import pickle

    from huey.registry import Message

    with pytest.raises(ValueError):
        JsonSerializer().deserialize(pickle.dumps(Message("x", "analyse_window")))
    with pytest.raises(TypeError):
        JsonSerializer().serialize({"not": "a task"})


def test_tasks_survive_a_restart_of_the_consumer(config):
    huey = build_huey(config)
    huey.flush()
    AnalysisQueue(huey).enqueue([5, 6])
    recorder = Recorder()
    queue = AnalysisQueue(build_huey(config), recorder)
    queue.start(1)
    try:
        wait_for(lambda: sorted(recorder.calls) == [5, 6], what="queued tasks after restart")
    finally:
        queue.stop(5)


_OLDEST_HUEY_SCRIPT = """
import sys, threading, time
from pathlib import Path
import huey
from gateway.config import load_config
from gateway.inference.queue import AnalysisQueue, build_huey
config = load_config(Path(sys.argv[1]))
done, seen = threading.Event(), []
def handler(window_id):
    seen.append(window_id)
    if len(seen) == 1:
        return 0.01  # one retry through the scheduler
    done.set()
queue = AnalysisQueue(build_huey(config), handler)
queue.start(1)
queue.enqueue([7])
assert done.wait(10), seen
assert queue.stop(5.0)
queue.close()
print("ok", huey.__version__)
"""


def _declared_huey_floor() -> str:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    (spec,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("huey")]
    return re.search(r">=\s*([0-9.]+)", spec).group(1)


def test_the_oldest_huey_the_package_admits_runs_the_queue(tmp_path):
    """pyproject.toml promises every huey from its floor up: the floor must run the queue
    (start, a retry, a graceful stop), not only the release the suite happens to install."""
    floor = _declared_huey_floor()
    target = tmp_path / "oldest"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                              "--disable-pip-version-check", "--target", str(target),
                              f"huey=={floor}"], capture_output=True, text=True, timeout=120)
    if install.returncode != 0:
        pytest.skip(f"cannot install huey=={floor} here: {install.stderr.strip()[-200:]}")
    config = tmp_path / "config.toml"
    config.write_text(f'[gateway]\nid = "q-oldest"\ndata_dir = "{tmp_path / "data"}"\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", _OLDEST_HUEY_SCRIPT, str(config)],
                            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith(f"ok {floor}"), result.stderr


def test_a_worker_that_dies_is_replaced_and_the_queue_goes_on(config):
    # Huey's own health check runs only in Consumer.run, which the daemon does not use: the
    # queue runs it itself. A worker thread ended by something no `except Exception` catches
    # (here SystemExit, as a bug could raise) is restarted and takes the next window.
    handled: list[int] = []

    def handler(window_id: int) -> None:
        if window_id == 1:
            raise SystemExit("a worker's end")
        handled.append(window_id)

    queue = running_queue(config, handler, workers=1)
    try:
        queue.enqueue([1])
        wait_for(lambda: not queue.consumer.worker_threads[0][1].is_alive(),
                 what="the worker thread to die")
        queue.enqueue([2])
        wait_for(lambda: handled == [2], what="a new worker handling the next window")
    finally:
        assert queue.stop(5)


def test_a_damaged_queue_file_is_set_aside_and_a_new_one_works(tmp_path, caplog):
    path = tmp_path / "config.toml"
    path.write_text(f'[gateway]\nid = "q-damaged"\ndata_dir = "{tmp_path / "data"}"\n')
    config = load_config(path)
    config.gateway.data_dir.mkdir()
    config.queue_path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    huey = build_huey(config)
    AnalysisQueue(huey).enqueue([7])
    assert huey.serializer.deserialize(huey.storage.dequeue()).args == (7,)
    huey.storage.close()
    damaged = config.gateway.data_dir / "queue.db.damaged"
    assert damaged.read_bytes().startswith(b"SQLite format 3\x00\xff")
    assert "queue file was damaged" in caplog.text
    caplog.clear()
    build_huey(config).storage.close()  # a whole file is kept as it is
    assert "damaged" not in caplog.text


def test_the_queue_file_commits_without_fsync_and_checkpoints_early(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[gateway]\nid = "q-pragmas"\ndata_dir = "{tmp_path / "data"}"\n')
    huey = build_huey(load_config(path))
    conn = huey.storage.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 0
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == QUEUE_CHECKPOINT_PAGES
    huey.storage.close()


def test_a_new_queue_file_has_small_pages_and_an_older_one_keeps_its_own(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'[gateway]\nid = "q-pages"\ndata_dir = "{tmp_path / "data"}"\n')
    config = load_config(path)
    huey = build_huey(config)
    AnalysisQueue(huey).enqueue([1])
    assert huey.storage.conn.execute("PRAGMA page_size").fetchone()[0] == QUEUE_PAGE_SIZE
    huey.storage.close()
    older = tmp_path / "older"
    older.mkdir()
    path.write_text(f'[gateway]\nid = "q-pages"\ndata_dir = "{older}"\n')
    conn = sqlite3.connect(older / "queue.db")  # a queue file made before round 8: 4 KB pages
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    huey = build_huey(load_config(path))
    AnalysisQueue(huey).enqueue([2])
    assert huey.storage.conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert huey.serializer.deserialize(huey.storage.dequeue()).args == (2,)
    huey.storage.close()
