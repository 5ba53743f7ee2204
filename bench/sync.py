"""Sync benchmark: records per second the uploader drains from a backlog to the cloud.

Method: a store is filled with N telemetry records (the BRIEF.md payload with varying values,
~190 bytes of JSON each) in the telemetry table, as the intake stores them (uploaded from
there above the uploader's watermark, store/outbox.py), then the real `Uplink` drains it
with `run_once` until nothing waits, to the reference receiver
(`gateway.devtools.receiver.server`, ids only) in another process. The uploader runs in its
own process pinned to one core, the receiver on the other; the uploader's peak RSS (VmHWM)
is read at the end. The practical limit is a bare `requests` POST loop of the same gzip
bodies (built beforehand) to the same receiver. Bytes per record are the gzip bodies' sizes
over N; gzip levels 1 and 6 are compared on the same bodies.
Figures are medians over --runs runs.

    .venv/bin/python -m bench.sync [--runs 3] [--records 1000000] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import requests

from bench.report import report, summarise
from gateway.config import SyncSection
from gateway.delivery.uplink import Uplink, new_session, records_url
from gateway.store.database import open_database
from gateway.store.outbox import read_batch
from gateway.store.record_ids import advance_seq, store_id_of

REPO = Path(__file__).resolve().parent.parent
CORES = sorted(os.sched_getaffinity(0))
UPLOADER_CORE = CORES[-1] if len(CORES) > 1 else None
RECEIVER_CORE = CORES[0] if len(CORES) > 1 else None
TOKEN = "bench-token"
GATEWAY_ID = "gw-bench"
GOALS = {"drain_per_s": (">=", 20_000), "wire_bytes_per_record": ("<=", 80),
         "peak_rss_mb": ("<=", 100)}

# The BRIEF.md payload, values varying as real readings do (so gzip is not flattered).
_FILL = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :count - 1)
INSERT INTO telemetry (id, device_id, topic, ts_ms, received_at_ms, digest, data)
SELECT i + 1, 'box-' || (i % 30), 'sensors/box-' || (i % 30) || '/telemetry',
  1732350000000 + i * 100, 1732350000000 + i * 100, randomblob(32),
  printf('{"device_id": "box-%d", "timestamp": %.3f, "temperature": %.1f, '
         || '"vibration": {"x": %.3f, "y": %.3f, "z": %.3f}, "power_consumption": %.1f, '
         || '"audio_level": %d, "sensor_quality": %.2f}',
         i % 30, 1732350000.0 + i * 0.1, -18.0 - (abs(random()) % 60) / 10.0,
         (abs(random()) % 1000) / 1000.0, (abs(random()) % 1000) / 1000.0,
         (abs(random()) % 1000) / 1000.0, 40 + (abs(random()) % 200) / 10.0,
         120 + abs(random()) % 60, 0.8 + (abs(random()) % 20) / 100.0)
FROM n
"""


def pinned(core: int | None):
    """preexec_fn that keeps a child on one core, so 'one core' figures mean one core."""
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build_store(path: Path, count: int) -> None:
    db = open_database(path)
    with db.atomic():
        db.execute(_FILL, {"count": count})
        advance_seq(db.conn, count)  # the rows' ids are their records' seqs
    db.close()


def bench_sync(url: str, batch_records: int) -> SyncSection:
    return SyncSection(url=url, token=TOKEN, batch_records=batch_records)


# --- what runs in the pinned child ----------------------------------------------------------


def child_upload(store: Path, url: str, batch_records: int) -> dict:
    """Drain the outbox with the real uploader; rate, bytes and peak RSS."""
    uplink = Uplink(bench_sync(url, batch_records), GATEWAY_ID, store)
    accepted = wire = raw = 0
    started = time.perf_counter()
    while True:
        outcome = uplink.run_once()
        if outcome.failure:
            raise RuntimeError(f"upload failed: {outcome.error}")
        accepted, wire, raw = (accepted + outcome.accepted, wire + outcome.wire_bytes,
                               raw + outcome.raw_bytes)
        if not outcome.remaining:
            break
    seconds = time.perf_counter() - started
    uplink.stop()
    return {"rate": accepted / seconds, "records": accepted, "wire_bytes": wire,
            "raw_bytes": raw, "rss_mb": peak_rss_mb()}


def child_baseline(store: Path, url: str, batch_records: int) -> dict:
    """The same gzip bodies, built beforehand, POSTed in a bare loop; gzip 1 vs 6."""
    sync = bench_sync(url, batch_records)
    db = open_database(store, read_only=True)
    store_id, bodies, after = store_id_of(db.conn), [], 0
    sizes = {1: 0, 6: 0}
    cpu = {1: 0.0, 6: 0.0}
    count = 0
    while batch := read_batch(db.conn, store_id, sync.batch_records, sync.batch_bytes, after):
        after, count = batch.seqs[-1], count + len(batch)
        batch_id, body = batch.body(GATEWAY_ID, store_id)
        for level in (6, 1):
            started = time.perf_counter()
            gzipped = zlib.compress(body, level, wbits=31)
            cpu[level] += time.perf_counter() - started
            sizes[level] += len(gzipped)
        bodies.append((batch_id, gzipped))
    db.close()
    session, target = new_session(sync), records_url(sync, GATEWAY_ID)
    started = time.perf_counter()
    for batch_id, gzipped in bodies:
        answer = session.post(target, data=gzipped, headers={"Idempotency-Key": batch_id},
                              timeout=(5, 60))
        answer.raise_for_status()
    seconds = time.perf_counter() - started
    return {"rate": count / seconds, "records": count,
            **{f"gzip{lvl}_bytes_per_record": sizes[lvl] / count for lvl in sizes},
            **{f"gzip{lvl}_us_per_record": cpu[lvl] / count * 1e6 for lvl in cpu}}


# --- the parent -----------------------------------------------------------------------------


def start_receiver(workdir: Path) -> tuple[subprocess.Popen, str]:
    token_file = workdir / "token"
    token_file.write_text(TOKEN)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.devtools.receiver.server", "--port", "0", "--token-file",
         str(token_file), "--ids-only", "--log-level", "warning"],
        cwd=REPO, stdout=subprocess.PIPE, text=True, preexec_fn=pinned(RECEIVER_CORE))
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise RuntimeError(f"receiver did not start: {line!r}")
    return process, line.split()[-1]


def received(url: str) -> int:
    stats = requests.get(url + "/_stats", headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=30)
    return stats.json()["records"]


def one_run(kind: str, template: Path, count: int, batch_records: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        workdir = Path(tmp)
        store = workdir / "gateway.db"
        shutil.copy(template, store)
        receiver, url = start_receiver(workdir)
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, "--store", str(store), "--url", url,
                 "--batch-records", str(batch_records)],
                cwd=REPO, capture_output=True, text=True, check=False,
                preexec_fn=pinned(UPLOADER_CORE))
            if out.returncode != 0:
                raise RuntimeError(f"{kind} child failed:\n{out.stderr[-3000:]}")
            figures = json.loads(out.stdout.splitlines()[-1])
            if received(url) != count:
                raise RuntimeError(f"{kind}: the receiver holds {received(url)} of {count}")
            return figures
        finally:
            receiver.terminate()
            receiver.wait(30)


def median_of(runs: int, kind: str, template: Path, count: int, batch_records: int) -> dict:
    results = [one_run(kind, template, count, batch_records) for _ in range(runs)]
    return summarise(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch-records", type=int, default=SyncSection.batch_records)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", choices=("upload", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child = child_upload if args.child == "upload" else child_baseline
        print(json.dumps(child(args.store, args.url, args.batch_records)))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-sync-template-") as tmp:
        template = Path(tmp) / "gateway.db"
        build_store(template, args.records)
        upload = median_of(args.runs, "upload", template, args.records, args.batch_records)
        baseline = median_of(args.runs, "baseline", template, args.records, args.batch_records)
    report("sync benchmark", figures_of(args, upload, baseline), GOALS, args.runs, args.json)
    return 0


def figures_of(args, upload: dict, baseline: dict) -> dict:
    return {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}, "
                   f"uploader pinned to core {UPLOADER_CORE}, receiver to {RECEIVER_CORE}",
        "records": args.records,
        "batch_records": args.batch_records,
        "bare_post_loop_per_s": round(baseline["rate"]),
        "drain_per_s": round(upload["rate"]),
        "ratio_to_bare_post_loop": round(upload["rate"] / baseline["rate"], 2),
        "wire_bytes_per_record": round(upload["wire_bytes"] / upload["records"], 1),
        "json_bytes_per_record": round(upload["raw_bytes"] / upload["records"], 1),
        "gzip1_bytes_per_record": round(baseline["gzip1_bytes_per_record"], 1),
        "gzip6_bytes_per_record": round(baseline["gzip6_bytes_per_record"], 1),
        "gzip1_us_per_record": round(baseline["gzip1_us_per_record"], 2),
        "gzip6_us_per_record": round(baseline["gzip6_us_per_record"], 2),
        "peak_rss_mb": round(upload["rss_mb"], 1),
        "runs": {"drain": upload["rates"], "bare_post_loop": baseline["rates"]},
    }


if __name__ == "__main__":
    raise SystemExit(main())
