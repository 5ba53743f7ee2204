"""`gateway demo`: the whole system on one machine, no config, to watch it work.

The parts (a private Mosquitto, the reference receiver as the cloud, the daemon, a local
display, simulated boxes) are started and stopped by demo_parts.py. This module is what the
user sees and types: a live view while it runs, a summary at the end, Ctrl-C, the command
line.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.devtools.demo.parts import BASELINE_WINDOWS, Demo, DemoError, Snapshot, started
from gateway.logs import KeyValueFormatter
from gateway.ops.status import collect_status

# rich is imported where the live view is drawn: `gateway run` shares this module's command
# line (cli.py) and must not carry a terminal UI library in the daemon's memory.
if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

REFRESH_S = 0.5
PLAIN_EVERY_S = 5.0


# --- what is shown ----------------------------------------------------------------------------


def _verdict(stream: dict, needed: int) -> str:
    if stream["state"] == "learning":
        return f"[cyan]learning[/] {stream['baseline_windows']}/{needed}"
    return {"anomaly": "[bold red]ANOMALY[/]", "off": "[dim]off[/]"}.get(
        stream["state"], "[green]normal[/]")


def _why(stream: dict) -> str:
    """What drove the score, for a box in anomaly ("[" escaped: it would read as rich markup)."""
    why = stream.get("why", "").replace("[", "\\[") if stream["state"] == "anomaly" else ""
    return f"\n[dim]{why}[/]" if why else ""


def _stream_cell(stream: dict | None, needed: int) -> str:
    """Audio: the state, the score and the threshold it is judged against."""
    if not stream:
        return "[dim]-[/]"
    if stream["state"] == "learning":
        return _verdict(stream, needed)
    score, threshold = stream["last_score"] or 0.0, stream["threshold"] or 0.0
    return f"{_verdict(stream, needed)} {score:.3g} [dim](threshold {threshold:.3g})[/]" + \
        _why(stream)


def _vibration_cell(stream: dict | None, latest: dict | None, needed: int) -> str:
    """Vibration: the state and the latest window's ISO 10816 figures, RMS velocity and
    zone A-D (C and D are an alarm whatever was learned)."""
    if not stream:
        return "[dim]-[/]"
    if not latest or "iso_zone" not in latest:
        return _verdict(stream, needed)
    zone = latest["iso_zone"]
    style = "bold red" if zone in ("C", "D") else "green"
    return (f"{_verdict(stream, needed)} {latest.get('rms_velocity_mm_s', 0.0):.2f} mm/s "
            f"[{style}]zone {zone}[/]" + _why(stream))


def uplink_state(status: Mapping[str, Any]) -> str:
    sync = status.get("sync")
    if not sync:
        return "starting"
    if sync["paused"] == "auth":
        return "PAUSED: the cloud refused the token"
    if sync["consecutive_failures"]:
        return f"retrying ({sync['consecutive_failures']} failed): {sync['last_error']}"
    return "ok" if sync["last_success_ms"] else "waiting for the first upload"


def alert_line(alert: dict) -> str:
    return (f"{alert['device_id']} {alert['state']} at {alert['at_s']:.1f} s: "
            f"{alert.get('reason', '')}")


def _devices(snap: Snapshot, demo: Demo) -> Table:
    from rich.table import Table

    table = Table("box", "audio (score, threshold)", "vibration (mm/s, ISO 10816 zone)")
    needed = snap.status.get("baseline_needed", BASELINE_WINDOWS)
    for device in snap.status.get("devices", []):
        name, streams = device["device_id"], device["streams"]
        if name == demo.fault.device_id:
            name += f" [dim](develops a {demo.fault.kind})[/]"
        table.add_row(name, _stream_cell(streams.get("audio"), needed),
                      _vibration_cell(streams.get("vibration"),
                                      snap.vibration.get(device["device_id"]), needed))
    return table


def _pipeline(snap: Snapshot) -> Table:
    from rich.table import Table

    status, alerts = snap.status, snap.alerts
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    received = ", ".join(f"{s} {n}" for s, n in status.get("received", {}).items())
    table.add_row("received", received)
    table.add_row("analysed", f"{status.get('inferred', 0)} "
                              f"(queue {status.get('pending_inference', 0)})")
    table.add_row("alerts", f"{len(alerts)}" + (f"; latest: [bold red]{alert_line(alerts[-1])}"
                                                if alerts else ""))
    table.add_row("upload backlog", str(status.get("pending_sync", 0)))
    table.add_row("at the cloud", f"{snap.at_cloud} records")
    table.add_row("uplink", uplink_state(status))
    table.add_row("dead letters", str(status.get("dead_letters", 0)))
    return table


def render(snap: Snapshot, demo: Demo, duration: float | None) -> Group:
    from rich.console import Group

    ends = f"ends after {duration:.0f} s of operation" if duration else "Ctrl-C ends it"
    header = (f"[bold]sensor-gateway demo[/] {snap.elapsed_s:.0f} s: {demo.boxes} simulated "
              f"boxes; {demo.fault.device_id} develops a {demo.fault.kind} once its baseline "
              f"is learned; {ends}")
    return Group(header, _devices(snap, demo), _pipeline(snap))


def plain_line(snap: Snapshot) -> str:
    status = snap.status
    return (f"[{snap.elapsed_s:4.0f} s] analysed {status.get('inferred', 0)} "
            f"(queue {status.get('pending_inference', 0)}), alerts {len(snap.alerts)}, "
            f"at the cloud {snap.at_cloud} (backlog {status.get('pending_sync', 0)}), "
            f"uplink {uplink_state(status)}")


def show(demo: Demo, duration: float | None, stop: threading.Event) -> None:
    """A live view on a terminal; otherwise a progress line every few seconds, and alerts."""
    deadline = None if duration is None else time.monotonic() + duration

    def going_on() -> bool:
        ended = stop.wait(REFRESH_S) or (deadline is not None and time.monotonic() >= deadline)
        demo.check_daemon()
        return not ended

    if stop.is_set():
        return
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.live import Live

        with Live(render(demo.snapshot(), demo, duration), auto_refresh=False,
                  console=Console()) as live:
            while going_on():
                live.update(render(demo.snapshot(), demo, duration), refresh=True)
        return
    print(f"demo: {demo.boxes} simulated boxes; {demo.fault.device_id} develops a "
          f"{demo.fault.kind} once its baseline is learned", flush=True)
    told, next_line = 0, 0.0
    while going_on():
        snap = demo.snapshot()
        for alert in snap.alerts[told:]:
            print(f"[{alert['at_s']:4.0f} s] ALERT {alert_line(alert)}", flush=True)
        told = len(snap.alerts)
        if time.monotonic() >= next_line:
            print(plain_line(snap), flush=True)
            next_line = time.monotonic() + PLAIN_EVERY_S


def summary(demo: Demo, kept: bool) -> str:
    """What happened, read after everything stopped, so the counts are final. `kept`: the
    demo's folder (its store with it) stays; otherwise it is deleted once this is shown."""
    status = collect_status(started(demo.config))
    alerts = started(demo.display).seen_alerts()
    kinds = sorted(Counter(r["kind"] for r in started(demo.cloud).records.values()
                           if r).items())
    lines = [f"demo summary ({demo.boxes} boxes; {demo.fault.device_id} was scripted to "
             f"develop a {demo.fault.kind}):",
             f"  windows analysed:     {status['inferred']} "
             f"({status['pending_inference']} not analysed when stopped)",
             f"  alerts raised:        {len(alerts)}"]
    lines += [f"    {alert_line(alert)}" + ("" if alert["device_id"] == demo.fault.device_id
                                           else " (no fault scripted there: a false alarm)")
              for alert in alerts]
    lines += [f"  records at the cloud: {sum(n for _, n in kinds)} "
              f"({', '.join(f'{kind} {n}' for kind, n in kinds)})",
              f"  not yet uploaded:     {status['pending_sync']} "
              + (f"(kept in the store in {demo.workdir})" if kept else
                 "(deleted with the demo's folder; --keep keeps it)"),
              f"  dead letters:         {status['dead_letters']}",
              "  timeline (s):         " + ", ".join(
                  f"{event} {t:.1f}" for event, t in sorted(demo.marks.items(),
                                                           key=lambda item: item[1]))]
    return "\n".join(lines)


# --- command line -----------------------------------------------------------------------------


@contextmanager
def _signals_set(stop: threading.Event):
    """Ctrl-C and SIGTERM only ask the demo to end; it then stops everything in order."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _logs_into(path: Path):
    """The simulator's and receiver's log lines go to a file: the terminal shows the view."""
    logger, handler = logging.getLogger("gateway"), logging.FileHandler(path)
    handler.setFormatter(KeyValueFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        handler.close()
        logger.propagate = True


def _play(demo: Demo, duration: float | None, stop: threading.Event) -> str | None:
    """Run the demo; the failure's one line, or None. Everything is stopped on the way out."""
    try:
        demo.start(stop)
        show(demo, duration, stop)
        return None
    except DemoError as e:
        return str(e)
    finally:
        demo.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, metavar="S",
                        help="end after S seconds of simulated operation (default: Ctrl-C)")
    parser.add_argument("--boxes", type=int, choices=range(1, 21), default=4, metavar="N",
                        help="simulated sensor boxes, 1-20 (default 4)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (config, logs, data) and say where")


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    workdir = Path(tempfile.mkdtemp(prefix="gateway-demo-"))
    demo = Demo(args.boxes, workdir)
    try:
        with _signals_set(stop), _logs_into(workdir / "demo.log"):
            failure = _play(demo, args.duration, stop)
            report = None if failure else summary(demo, kept=args.keep)
    finally:
        if args.keep:
            print(f"demo: kept {workdir}; try: gateway status -c {workdir / 'config.toml'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if failure:
        print(f"demo: {failure}", file=sys.stderr)
        return 1
    print(report, flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway demo", description="the whole system on this "
                                     "machine, no config: watch it work")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
