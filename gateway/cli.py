"""The `gateway` command: a thin layer that turns library errors into one line and an exit code."""

from __future__ import annotations

import argparse
import importlib
import sys

from gateway import __version__
from gateway.config import ConfigError, load_config, resolve_config_path, service_environ
from gateway.daemon import Daemon, model_path
from gateway.inference.model import ModelError
from gateway.inference.queue import QueueError
from gateway.logs import setup_logging
from gateway.ops.baseline import ANALYSED_STREAMS, reset_baseline
from gateway.ops.dlq import DlqError, dead_letters, render_dead_letters, retry_dead_letters
from gateway.ops.doctor import render, run_checks
from gateway.ops.status import collect_status, render_status, status_json
from gateway.service.metrics import MetricsError
from gateway.service.runlock import AlreadyRunning
from gateway.sources.mic import CaptureError
from gateway.store.database import StoreError

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="config file (default: $GATEWAY_CONFIG, then "
                             "/etc/sensor-gateway/config.toml)")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; `command` is the one about to run (its tool module, if it is
    one, is imported for its arguments)."""
    parser = argparse.ArgumentParser(prog="gateway", description="sensor-gateway edge daemon")
    parser.add_argument("--version", action="version", version=f"sensor-gateway {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the daemon in the foreground (what systemd starts)")
    _add_config_arg(run)
    status = commands.add_parser("status", help="counts and state read from the data dir")
    _add_config_arg(status)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    check = commands.add_parser("check-config", help="validate the config file and exit")
    _add_config_arg(check)
    doctor = commands.add_parser("doctor", help="check config, storage, broker, model, clock "
                                                "and uplink; exit 0 only if all pass")
    _add_config_arg(doctor)
    _add_dlq_commands(commands)
    _add_baseline_commands(commands)
    for name, help_text in TOOL_COMMANDS.items():
        tool = commands.add_parser(name, help=help_text)
        if name == command:  # the others' modules stay unimported
            _tool_module(name).add_arguments(tool)
    return parser


# Commands of the developer tooling (gateway.devtools), which the daemon never needs: their
# modules are imported only when one of them runs, so the daemon's process does not carry the
# demo, the simulator and the receiver (1.3 MB of RSS).
TOOL_MODULES = {"receiver": "receiver.server", "simulate": "simulator.fleet", "demo": "demo.view"}
TOOL_COMMANDS = {
    "receiver": "run the reference receiver of the upstream API (tests, demo, cloud team)",
    "simulate": "simulated sensor boxes publishing over MQTT as real ones do (demo, tests)",
    "demo": "the whole system on embedded defaults: a broker, simulated boxes (one develops a "
            "fault), the daemon, a stand-in cloud, shown live",
}


def _tool_module(name: str):
    return importlib.import_module(f"gateway.devtools.{TOOL_MODULES[name]}")


def _add_dlq_commands(commands) -> None:
    dlq = commands.add_parser("dlq", help="the dead-letter list: windows the analysis gave "
                                          "up on, records the cloud refused")
    actions = dlq.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="show the dead letters")
    _add_config_arg(listing)
    again = actions.add_parser("retry", help="put dead letters back: analyse again / resend")
    _add_config_arg(again)
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", nargs="*", type=int, default=[], metavar="ID",
                       help="dead-letter id(s) from `gateway dlq list`")
    which.add_argument("--all", action="store_true", help="every dead letter")


def _add_baseline_commands(commands) -> None:
    baseline = commands.add_parser("baseline", help="per-device baselines of normal behaviour")
    actions = baseline.add_subparsers(dest="action", required=True, metavar="ACTION")
    reset = actions.add_parser("reset", help="forget a device's baseline: it learns anew "
                                             "(after a repair or a move)")
    _add_config_arg(reset)
    reset.add_argument("device", metavar="DEVICE", help="device id")
    reset.add_argument("--stream", choices=ANALYSED_STREAMS,
                       help="only this stream (default: both)")


def cmd_run(args) -> int:
    config = load_config(resolve_config_path(args.config))
    setup_logging(config.gateway.log_level)
    return Daemon(config, service_environ()).run()


def cmd_status(args) -> int:
    status = collect_status(load_config(resolve_config_path(args.config)))
    print(status_json(status) if args.json else render_status(status))
    return 0


def cmd_check_config(args) -> int:
    config = load_config(resolve_config_path(args.config))
    print(f"{config.path}: ok")
    return 0


def cmd_doctor(args) -> int:
    try:
        config = load_config(resolve_config_path(args.config))
    except ConfigError as e:
        print(f"FAIL  config   {e}\n      -> fix that line, then run gateway doctor again")
        return EXIT_FAILURE
    print(f"PASS  config   {config.path} is valid")
    checks = run_checks(config, model_path)
    print(render(checks))
    return 0 if all(check.ok for check in checks) else EXIT_FAILURE


def cmd_dlq(args) -> int:
    config = load_config(resolve_config_path(args.config))
    if args.action == "list":
        print(render_dead_letters(dead_letters(config)))
        return 0
    done = retry_dead_letters(config, None if args.all else args.ids)
    print(f"queued {len(done.window_ids)} window(s) for analysis, put {done.records} "
          f"record(s) back for upload")
    return 0


def cmd_baseline(args) -> int:
    config = load_config(resolve_config_path(args.config))
    streams = (args.stream,) if args.stream else ANALYSED_STREAMS
    if not reset_baseline(config, args.device, streams):
        print(f"{args.device}: no baseline to reset", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{args.device}: baseline reset ({', '.join(streams)}); the next "
          f"{config.inference.baseline_windows} windows are learned as normal")
    return 0


COMMANDS = {"run": cmd_run, "status": cmd_status, "check-config": cmd_check_config,
            "doctor": cmd_doctor, "dlq": cmd_dlq, "baseline": cmd_baseline}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The first word that is not an option names the command (top-level options take no value).
    args = build_parser(next((a for a in argv if not a.startswith("-")), None)).parse_args(argv)
    run = COMMANDS.get(args.command) or _tool_module(args.command).run
    try:
        return run(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreError, AlreadyRunning, CaptureError, ModelError, QueueError, DlqError,
            MetricsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE
