"""The Python the benchmarks run the daemon with: the gateway as a field box installs it.

The repository's .venv carries the dev extras (pytest, librosa, redis, …), and huey imports
redis whenever it is installed: 9 MB of the daemon's memory that a box installed with
scripts/install (runtime dependencies only) never has. So the daemon's figures come from
an environment built the same way, `.venv-runtime` at the top of the checkout: `pip install
-e .` without extras (editable, so it runs this checkout's code). It is built on first use
and rebuilt when pyproject.toml changes; building needs PyPI or pip's cache.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIME = REPO / ".venv-runtime"
STAMP = RUNTIME / "pyproject.sha256"
UNIT = REPO / "systemd" / "sensor-gateway.service"


def runtime_python() -> str:
    """Path of the runtime environment's python, built or rebuilt first when needed."""
    want = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()
    python = RUNTIME / "bin" / "python"
    if not python.exists() or not STAMP.exists() or STAMP.read_text() != want:
        print(f"bench: building the runtime environment {RUNTIME} (runtime dependencies only)",
              file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(RUNTIME)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", "-e", str(REPO)], check=True)
        STAMP.write_text(want)
    return str(python)


def unit_environment(unit: Path = UNIT) -> dict[str, str]:
    """The unit's `Environment=K=V` lines (one assignment each, unquoted, as ours are): the
    daemon's environment on a box, beside its interpreter."""
    pairs = [line.removeprefix("Environment=").split("=", 1)
             for line in unit.read_text().splitlines() if line.startswith("Environment=")]
    return {key: value for key, value in pairs}
