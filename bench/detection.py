"""Detection check: how well the audio model's score separates faults from normal sound.

Method: device profiles the model never saw (other ids, another profile seed than
tools/train_model.py) each give normal windows (compressor running, sometimes off) and fault
windows of every kind in gateway.devtools.synth.FAULT_KINDS at a few severities, at the sample
rates the boxes use. Each window is scored by gateway.inference.model.AudioModel exactly as the
worker does. The ROC AUC (rank-based: the chance that a fault window outscores a normal one) is
printed per fault kind and severity, overall (all devices pooled, i.e. one global threshold)
and as the median of per-device AUCs, since the gateway thresholds each device against its own
baseline.

    .venv/bin/python -m bench.detection [--model PATH] [--devices 40] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from gateway.devtools import synth
from gateway.inference.model import AudioModel, shipped_model_path

PROFILE_SEED = 7  # training uses profile seed 0 and ids "train-*": these devices are unseen
SOURCE_RATES = (16000, 44100, 48000)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=shipped_model_path())
    parser.add_argument("--devices", type=int, default=40, help="held-out device profiles")
    parser.add_argument("--normal", type=int, default=24, help="normal windows per device")
    parser.add_argument("--per-fault", type=int, default=2,
                        help="windows per device for each fault kind and severity")
    parser.add_argument("--severities", default="0.25,0.5,1.0")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def roc_auc(normal: np.ndarray, fault: np.ndarray) -> float:
    """P(fault score > normal score), ties counting half: the Mann-Whitney U over n*m."""
    scores = np.concatenate([normal, fault])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size)
    ranks[order] = np.arange(1, scores.size + 1)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]  # tied scores share their average rank
    fault_ranks = ranks[normal.size :].sum()
    u = fault_ranks - fault.size * (fault.size + 1) / 2
    return float(u / (normal.size * fault.size))


def device_windows(args: argparse.Namespace, device: int):
    """(label, severity, samples, rate) for one held-out device; label None = normal."""
    profile = synth.profile_for(f"heldout-{device:03d}", seed=PROFILE_SEED)
    rng = np.random.default_rng([args.seed, device])
    severities = [float(s) for s in args.severities.split(",")]
    plan = [(None, 0.0, i % 6 != 5) for i in range(args.normal)]  # one in six: compressor off
    plan += [(kind, sev, True) for kind in synth.FAULT_KINDS for sev in severities
             for _ in range(args.per_fault)]
    for kind, severity, running in plan:
        rate = int(rng.choice(SOURCE_RATES))
        samples = synth.audio_window(profile, sample_rate=rate, t0_s=float(rng.uniform(0, 3600)),
                                     fault=kind, severity=severity, running=running, rng=rng)
        yield kind, severity, samples, rate


def score_all(args: argparse.Namespace, model: AudioModel) -> tuple[list[dict], dict]:
    rows, timing = [], {"features_ms": [], "model_ms": []}
    for device in range(args.devices):
        for kind, severity, samples, rate in device_windows(args, device):
            scored = model.score(samples, rate)
            rows.append({"device": device, "kind": kind, "severity": severity,
                         "score": scored.score})
            timing["features_ms"].append(scored.features_ms)
            timing["model_ms"].append(scored.model_ms)
    return rows, timing


def summarise(rows: list[dict]) -> dict:
    def scores(**match) -> np.ndarray:
        return np.array([r["score"] for r in rows
                         if all(r[k] == v for k, v in match.items())])

    normal = scores(kind=None)
    faults = np.array([r["score"] for r in rows if r["kind"] is not None])
    per_kind = {kind: round(roc_auc(normal, scores(kind=kind)), 4) for kind in synth.FAULT_KINDS}
    severities = sorted({r["severity"] for r in rows if r["kind"] is not None})
    per_severity = {kind: {str(s): round(roc_auc(normal, scores(kind=kind, severity=s)), 4)
                           for s in severities} for kind in synth.FAULT_KINDS}
    devices = sorted({r["device"] for r in rows})
    per_device = [roc_auc(scores(device=d, kind=None),
                          np.array([r["score"] for r in rows
                                    if r["device"] == d and r["kind"] is not None]))
                  for d in devices]
    return {"overall_auc": round(roc_auc(normal, faults), 4), "per_kind_auc": per_kind,
            "per_kind_severity_auc": per_severity,
            "per_device_auc_median": round(statistics.median(per_device), 4),
            "per_device_auc_min": round(min(per_device), 4),
            "normal_windows": int(normal.size), "fault_windows": int(faults.size)}


def print_report(result: dict) -> None:
    print(f"model {result['model']}: {result['devices']} held-out devices, "
          f"{result['normal_windows']} normal and {result['fault_windows']} fault windows")
    severities = list(next(iter(result["per_kind_severity_auc"].values())))
    print(f"{'fault':<10} {'AUC':>6}  " + "  ".join(f"sev {s:>4}" for s in severities))
    for kind, auc in result["per_kind_auc"].items():
        cells = "  ".join(f"{v:>8.4f}" for v in result["per_kind_severity_auc"][kind].values())
        print(f"{kind:<10} {auc:>6.4f}  {cells}")
    print(f"overall AUC (one global threshold): {result['overall_auc']:.4f}")
    print(f"per-device AUC: median {result['per_device_auc_median']:.4f}, "
          f"min {result['per_device_auc_min']:.4f}")
    print(f"per window: features {result['features_ms_median']:.3f} ms, "
          f"model {result['model_ms_median']:.3f} ms (medians); run {result['seconds']:.1f} s")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    model = AudioModel(args.model)
    rows, timing = score_all(args, model)
    result = {"model": model.name_version, "devices": args.devices, **summarise(rows),
              "features_ms_median": round(statistics.median(timing["features_ms"]), 3),
              "model_ms_median": round(statistics.median(timing["model_ms"]), 3),
              "seconds": round(time.monotonic() - started, 1)}
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
