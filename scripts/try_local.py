"""Run the gateway against a private Mosquitto, with its data in ./local (see scripts/try)."""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.cli import main
from gateway.devtools.local_broker import LocalMosquitto

LOCAL = Path(__file__).resolve().parent.parent / "local"


GATEWAY_ID = "gw-local"  # docs/mqtt.md's examples use it (tests/e2e/test_docs_examples.py)


def write_config(port: int, local: Path = LOCAL) -> Path:
    config = local / "config.toml"
    config.write_text(
        f'[gateway]\nid = "{GATEWAY_ID}"\n'
        f'data_dir = "{local / "data"}"\n\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\ntopic_prefix = "sensors"\n'
    )
    return config


def explain(port: int, config: Path) -> None:
    print(f"""
sensor-gateway is starting on a private Mosquitto at 127.0.0.1:{port}; data in {LOCAL / 'data'}.
From another terminal, publish as a sensor box would:

  mosquitto_pub -p {port} -q 1 -t sensors/box-1/telemetry \\
    -m '{{"device_id": "box-1", "temperature": -18.2, "power_consumption": 45.2}}'
  mosquitto_pub -p {port} -q 1 -t sensors/box-1/telemetry -m 'not json'

Audio and vibration examples, each analysed with a result published: docs/mqtt.md,
"Trying it with mosquitto_pub", with PORT={port}. Watch the results with

  mosquitto_sub -p {port} -v -t 'gateway/{GATEWAY_ID}/#'

and look at what the gateway kept:

  .venv/bin/gateway status -c {config}

Ctrl-C stops the gateway and the broker.
""", flush=True)


if __name__ == "__main__":
    with LocalMosquitto(LOCAL / "broker") as broker:
        config = write_config(broker.port)
        explain(broker.port, config)
        sys.exit(main(["run", "-c", str(config), *sys.argv[1:]]))
