"""The offline install of docs/install.md, checked without a network.

Method: `scripts/wheelhouse` downloads a wheelhouse for this machine and one for aarch64 (a
Raspberry Pi) from the package registry; everything after that runs in an empty network
namespace (`unshare -n`: no interface but a downed loopback), with pip's own configuration
(extra indexes, find-links) switched off, so the wheelhouse is the only source:

1. this machine: `scripts/install --root TMP --no-systemctl --pip-args "--no-index
   --find-links WHEELS"`, building the gateway from this checkout (the build backend comes
   from the wheelhouse too), then the installed `gateway --version` and the shipped model
   loaded by the installed LiteRT;
2. aarch64, from this x86 machine: the gateway built into a wheel offline, then pip resolves
   it and every dependency for CPython 3.11 on manylinux aarch64 from that wheelhouse alone.

Needs root (unshare) and the registry; not part of the test suite.

    python3 -m bench.offline_install [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
AARCH64_PLATFORMS = ["manylinux2014_aarch64",
                     *(f"manylinux_2_{minor}_aarch64" for minor in range(36, 16, -1))]
LOAD_MODEL = ("from gateway.inference.model import AudioModel, shipped_model_path; "
              "print(AudioModel(shipped_model_path()).name_version)")


def offline_env() -> dict[str, str]:
    """This environment without pip's settings: no extra index or find-links may help."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull}


def offline(*argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-n", *argv], env=offline_env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def wheelhouse(dest: Path, arch: str) -> float:
    started = time.monotonic()
    subprocess.run([str(REPO / "scripts" / "wheelhouse"), str(dest), "--arch", arch],
                   check=True, capture_output=True, text=True, timeout=900)
    return time.monotonic() - started


def install_here(work: Path, wheels: Path) -> tuple[bool, str]:
    root = work / "root"
    root.mkdir()
    started = time.monotonic()
    result = offline("bash", str(REPO / "scripts" / "install"), "--root", str(root),
                     "--no-systemctl", "--id", "gw-offline",
                     "--pip-args", f"--no-index --find-links {wheels}")
    took = time.monotonic() - started
    if result.returncode != 0:
        return False, f"install exit {result.returncode}: {result.stderr.strip()[-300:]}"
    venv = root / "opt" / "sensor-gateway" / "venv" / "bin"
    version = offline(str(venv / "gateway"), "--version")
    model = offline(str(venv / "python"), "-c", LOAD_MODEL)
    ok = version.returncode == 0 and model.returncode == 0
    detail = (f"{version.stdout.strip()}, model {model.stdout.strip()}, install {took:.0f} s"
              if ok else (version.stderr + model.stderr).strip()[-300:])
    return ok, detail


def resolve_for_aarch64(work: Path, wheels: Path) -> tuple[bool, str]:
    built = work / "built"
    step = offline(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index",
                   "--find-links", str(wheels), "-w", str(built), str(REPO))
    if step.returncode != 0:
        return False, f"building the gateway offline: {step.stderr.strip()[-300:]}"
    platforms = [arg for p in AARCH64_PLATFORMS for arg in ("--platform", p)]
    step = offline(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                   "--target", str(work / "target"), "--no-index", "--find-links", str(wheels),
                   "--find-links", str(built), "--only-binary=:all:", "--python-version", "3.11",
                   "--implementation", "cp", "--abi", "cp311", *platforms, "sensor-gateway")
    if step.returncode != 0:
        return False, f"resolving: {step.stderr.strip()[-300:]}"
    would = next((line for line in step.stdout.splitlines() if line.startswith("Would install")),
                 "")
    count = len(would.split()) - 2
    litert = "ai-edge-litert" in would or "ai_edge_litert" in would
    return litert, f"{count} packages resolved offline, LiteRT {'in' if litert else 'MISSING'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="leave the wheelhouses and installs here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="offline-install-"))
    work.mkdir(parents=True, exist_ok=True)
    here = platform.machine()
    rows = []
    try:
        for arch in (here, "aarch64") if here != "aarch64" else (here,):
            wheels = work / f"wheels-{arch}"
            took = wheelhouse(wheels, arch)
            count = len(list(wheels.glob("*.whl")))
            rows.append((f"wheelhouse {arch}", True, f"{count} wheels in {took:.0f} s "
                         f"(setuptools: {bool(list(wheels.glob('setuptools-*.whl')))})"))
        (work / "here").mkdir()
        rows.append((f"offline install {here}",
                     *install_here(work / "here", work / f"wheels-{here}")))
        if here != "aarch64":
            (work / "arm").mkdir()
            rows.append(("offline resolve aarch64",
                         *resolve_for_aarch64(work / "arm", work / "wheels-aarch64")))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"offline install (docs/install.md) — {here}, no network after the downloads")
    for name, ok, detail in rows:
        print(f"  {name:<26} {'PASS' if ok else 'FAIL'}  {detail}")
    return 0 if all(ok for _, ok, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
