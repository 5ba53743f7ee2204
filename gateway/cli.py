"""The `gateway` command: a thin layer that turns library errors into one line and an exit code."""

from __future__ import annotations

import argparse
import sys

from gateway import __version__
from gateway.config import ConfigError, load_config, resolve_config_path
from gateway.daemon import Daemon
from gateway.logs import setup_logging
from gateway.runlock import AlreadyRunning
from gateway.sources.mic import CaptureError
from gateway.status import collect_status, render_status, status_json
from gateway.store import StoreError

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _add_config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", metavar="FILE",
                        help="config file (default: $GATEWAY_CONFIG, then "
                             "/etc/sensor-gateway/config.toml)")


def build_parser() -> argparse.ArgumentParser:
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
    return parser


def cmd_run(args) -> int:
    config = load_config(resolve_config_path(args.config))
    setup_logging(config.gateway.log_level)
    return Daemon(config).run()


def cmd_status(args) -> int:
    status = collect_status(load_config(resolve_config_path(args.config)))
    print(status_json(status) if args.json else render_status(status))
    return 0


def cmd_check_config(args) -> int:
    config = load_config(resolve_config_path(args.config))
    print(f"{config.path}: ok")
    return 0


COMMANDS = {"run": cmd_run, "status": cmd_status, "check-config": cmd_check_config}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return EXIT_CONFIG
    except (StoreError, AlreadyRunning, CaptureError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILURE
