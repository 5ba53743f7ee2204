"""The figures of bench/detection.py, from what was sent and what the gateway published: ROC
AUCs of the published score and of the peer, flagged shares, onset to alert, false alerts in
the device-week. Pure functions: no broker, no daemon (tests/unit/test_detection_bench.py)."""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass

import numpy as np

from gateway.inference.verdict import spacing_ms

SEVERITIES = (0.1, 0.25, 0.5, 1.0)


def tag(severity: float) -> str:
    """s010, s025, s050, s100: severity in figure names."""
    return f"s{round(severity * 100):03d}"


def roc_auc(normal, fault) -> float | None:
    """P(fault score > normal score), ties counting half (Mann-Whitney U over n*m)."""
    normal, fault = np.asarray(normal, float), np.asarray(fault, float)
    if normal.size == 0 or fault.size == 0:
        return None
    scores = np.concatenate([normal, fault])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = np.empty(scores.size)
    ranks[np.argsort(scores, kind="mergesort")] = np.arange(1, scores.size + 1)
    ranks = (np.bincount(inverse, weights=ranks) / counts)[inverse]  # ties: average rank
    u = ranks[normal.size:].sum() - fault.size * (fault.size + 1) / 2
    return float(u / (normal.size * fault.size))


def band_levels(x: np.ndarray, rate: float, fmin: float, fmax: float, bands: int) -> np.ndarray:
    """Mean log power (dB) in `bands` log-spaced bands: Hann frames of ~64 ms, 50 % overlap."""
    x = np.asarray(x, float) - np.mean(x)
    n_fft = 1 << int(np.ceil(np.log2(rate * 0.064)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::n_fft // 2]
    power = np.mean(np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)
    edges = np.geomspace(fmin, min(fmax, 0.48 * rate), bands + 1)
    log_power = 10 * np.log10(power + 1e-20)
    levels = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (freqs >= lo) & (freqs < hi)  # a band narrower than a bin: the nearest bin
        levels.append(log_power[inside].mean() if inside.any()
                      else log_power[np.argmin(np.abs(freqs - np.sqrt(lo * hi)))])
    return np.array(levels)


def audio_levels(samples: np.ndarray, rate: float) -> np.ndarray:
    return band_levels(samples, rate, 50.0, 8000.0, 32)


def vibration_levels(xyz: np.ndarray, rate: float) -> np.ndarray:
    per_axis = [10 ** (band_levels(axis, rate, 10.0, rate / 2, 24) / 10) for axis in xyz]
    return 10 * np.log10(np.sum(per_axis, axis=0))


class ZScorePeer:
    """The peer: per band, how many baseline standard deviations a window's level is away from
    the baseline mean; the score is the root mean square over bands. Baseline windows whose
    mean level is more than 6 dB under the baseline's median are left out (the machine was
    off), and each band's spread is floored at 0.5 dB."""

    def __init__(self, baseline: np.ndarray):
        baseline = np.asarray(baseline, float)
        level = baseline.mean(axis=1)
        kept = baseline[level >= np.median(level) - 6.0]
        self.mean = kept.mean(axis=0)
        self.std = np.maximum(kept.std(axis=0), 0.5)

    def score(self, levels: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(levels) - self.mean) / self.std
        return np.sqrt(np.mean(z ** 2, axis=1))



@dataclass
class Sent:
    device: str
    stream: str
    ts_ms: int
    phase: str  # baseline | test | onset | week
    kind: str | None
    severity: float
    running: bool
    levels: np.ndarray | None = None  # the peer's features


def week_phase(index: int, args) -> str:
    """A device-week window's phase: "baseline" up to the last window the daemon takes for
    learning if all of them ran (every k-th window, k = the spacing in week cadences)."""
    every = max(1, math.ceil(spacing_ms(args.baseline_hours, args.baseline)
                             / 1000 / args.week_cadence_s))
    return "baseline" if index <= (args.baseline - 1) * every else "week"



# --- from windows to rows --------------------------------------------------------------------


def by_device(sent: dict) -> dict[str, list[Sent]]:
    out: dict[str, list[Sent]] = {}
    for window in sorted(sent.values(), key=lambda w: w.ts_ms):
        out.setdefault(window.device, []).append(window)
    return out


def scored_rows(devices: dict[str, list[Sent]], results: dict) -> list[dict]:
    """One row per test window: its label, the published score and verdict, the peer's score
    (the peer fitted on the same device's baseline windows)."""
    rows = []
    for device, windows in devices.items():
        test = [w for w in windows if w.phase == "test"]
        if not test:
            continue
        peer = ZScorePeer(np.array([w.levels for w in windows if w.phase == "baseline"]))
        peer_scores = peer.score(np.array([w.levels for w in test]))
        for window, peer_score in zip(test, peer_scores, strict=True):
            result = results.get((window.device, window.stream, window.ts_ms)) or {}
            rows.append({"device": device, "kind": window.kind, "severity": window.severity,
                         "score": result.get("score"), "anomaly": result.get("anomaly"),
                         "state": (result.get("details") or {}).get("state"),
                         "peer": float(peer_score)})
    return rows


# --- figures ---------------------------------------------------------------------------------


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _auc(healthy: list[dict], faulty: list[dict], field: str) -> float | None:
    return roc_auc([r[field] for r in healthy], [r[field] for r in faulty])


def _device_aucs(healthy, faulty, field) -> list[float]:
    devices = sorted({r["device"] for r in faulty})
    aucs = [_auc([r for r in healthy if r["device"] == d], [r for r in faulty if r["device"] == d],
                 field) for d in devices]
    return [a for a in aucs if a is not None]


def _share(rows: list[dict]) -> float | None:
    return _round(sum(r["anomaly"] is True for r in rows) / len(rows)) if rows else None


def _called_off(rows: list[dict]) -> dict[str, float | None]:
    """Test windows (every one of them ran) that the daemon called "off": not judged at
    all, healthy or faulty. Pooled, and the worst device's share."""
    def share(mine: list[dict]) -> float:
        return sum(r.get("state") == "off" for r in mine) / len(mine)
    devices = sorted({r["device"] for r in rows})
    worst = max((share([r for r in rows if r["device"] == d]) for d in devices), default=None)
    return {"called_off": _round(share(rows)) if rows else None,
            "called_off_device_max": _round(worst)}


def auc_figures(prefix: str, rows: list[dict], kinds) -> tuple[dict, dict]:
    """Figures (flat, for the table) and the per-kind table of AUCs, the detector's and the
    peer's, at each severity."""
    scored = [r for r in rows if r["score"] is not None]
    healthy = [r for r in scored if r["kind"] is None]
    out = {f"{prefix}_results_missing": len(rows) - len(scored)}
    leads = []
    for severity in SEVERITIES:
        faulty = [r for r in scored if r["kind"] is not None and r["severity"] == severity]
        for who, field in (("", "score"), ("peer_", "peer")):
            out[f"{prefix}_{who}pooled_auc_{tag(severity)}"] = _round(_auc(healthy, faulty, field))
            per_device = _device_aucs(healthy, faulty, field)
            out[f"{prefix}_{who}device_auc_median_{tag(severity)}"] = _round(
                statistics.median(per_device)) if per_device else None
            out[f"{prefix}_{who}device_auc_min_{tag(severity)}"] = _round(
                min(per_device)) if per_device else None
        out[f"{prefix}_flagged_{tag(severity)}"] = _share(faulty)
        mine, peer = (out[f"{prefix}_{w}pooled_auc_{tag(severity)}"] for w in ("", "peer_"))
        if mine is not None and peer is not None:
            leads.append(mine - peer)
    out[f"{prefix}_lead_over_peer_min"] = _round(min(leads)) if leads else None
    out[f"{prefix}_false_anomalies_healthy"] = _share(healthy)
    out.update({f"{prefix}_test_{k}": v for k, v in _called_off(scored).items()})
    kinds_table = {kind: {tag(s): [_round(_auc(healthy, faulty, f)) for f in ("score", "peer")]
                          for s in SEVERITIES
                          for faulty in [[r for r in scored if r["kind"] == kind
                                          and r["severity"] == s]]}
                   for kind in kinds}
    kinds_table["flagged"] = {tag(s): [_share([r for r in scored if r["kind"] == kind
                                               and r["severity"] == s]) for kind in kinds]
                              for s in SEVERITIES}
    worst = [v[tag(0.5)][0] for k, v in kinds_table.items() if k != "flagged"]
    out[f"{prefix}_worst_kind_auc_s050"] = min(worst) if None not in worst and worst else None
    return out, kinds_table


def _alerts_by_device(alerts: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for alert in sorted(alerts, key=lambda a: a["ts"]):
        out.setdefault(alert["device_id"], []).append(alert)
    return out


def onset_figures(prefix: str, devices: dict[str, list[Sent]], alerts: list[dict],
                  kinds, block: int) -> dict:
    """Windows from a severity-0.5 fault's onset to the device's first `anomaly` alert (1 =
    the first fault window raised it); a block with no alert counts as block + 1. A device
    already in `anomaly` at the onset is left out and counted."""
    per_device = _alerts_by_device(alerts)
    delays, missed, not_normal = [], 0, 0
    for device, windows in devices.items():
        mine = per_device.get(device, [])
        for kind in kinds:
            faulty = [w.ts_ms for w in windows if w.phase == f"onset:{kind}" and w.kind]
            if not faulty:
                continue
            before = [a for a in mine if a["ts"] < faulty[0]]
            if before and before[-1]["state"] == "anomaly":
                not_normal += 1
                continue
            hit = next((faulty.index(a["ts"]) + 1 for a in mine
                        if a["state"] == "anomaly" and a["ts"] in faulty), None)
            missed += hit is None
            delays.append(block + 1 if hit is None else hit)
    return {f"{prefix}_onset_to_alert_median": statistics.median(delays) if delays else None,
            f"{prefix}_onset_to_alert_worst": max(delays) if delays else None,
            f"{prefix}_onset_missed": missed, f"{prefix}_onset_not_normal": not_normal,
            f"{prefix}_onsets": len(delays)}


def week_figures(devices: dict[str, list[Sent]], results: dict, alerts: list[dict],
                 cadence_s: float) -> dict:
    """False alerts on healthy device-weeks: `anomaly` alerts per device-day of scored time."""
    names = [d for d in devices if d.startswith("rigweek-")]
    # scored windows only: one still learning (a device that ran too little to finish on
    # time) can raise no false alert, and its time is not a day of judging
    windows = [w for d in names for w in devices[d] if w.phase == "week"
               and not _learning(results.get((w.device, w.stream, w.ts_ms)))]
    judged = [results.get((w.device, w.stream, w.ts_ms)) for w in windows]
    false = [a for a in alerts if a["device_id"] in names and a["state"] == "anomaly"]
    false_alerts = len(false)
    starts = {d: devices[d][0].ts_ms for d in names}
    by_day = [0] * (1 + max((int((a["ts"] - starts[a["device_id"]]) // 86_400_000)
                             for a in false), default=0))
    for alert in false:  # does the false-alert rate grow as the drift goes on?
        by_day[int((alert["ts"] - starts[alert["device_id"]]) // 86_400_000)] += 1
    device_days = len(windows) * cadence_s / 86_400
    return {"rig_false_alerts_per_device_day": _round(false_alerts / device_days)
            if device_days else None,
            "rig_week_false_alerts": false_alerts, "rig_week_false_alerts_by_day": by_day,
            "rig_week_device_days": round(device_days, 2),
            "rig_week_flagged_windows": sum(bool(r and r.get("anomaly")) for r in judged),
            # where the false anomalies fall: while the compressor ran, or while it was off
            "rig_week_flagged_running": _flagged_share(windows, judged, True),
            "rig_week_flagged_off": _flagged_share(windows, judged, False),
            "rig_week_flagged_running_by_device": {
                d: _flagged_share(*_of_device(d, windows, judged), True) for d in names},
            "rig_week_windows": len(windows),
            "rig_week_off_share": _round(sum(not w.running for w in windows) / len(windows))
            if windows else None,
            "rig_week_results_missing": sum(r is None for r in judged)}


def _learning(result: dict | None) -> bool:
    return bool(result) and (result.get("details") or {}).get("state") == "learning"


def week_figures_of(generator: str, device_prefix: str, devices: dict[str, list[Sent]],
                    results: dict, alerts: list[dict], cadence_s: float) -> dict:
    """week_figures for another generator's device-weeks: week_figures knows its devices as
    rigweek-* and names its figures rig_*, so it is handed these devices under those names
    and the figures are renamed back to `generator`_*."""
    alias = {d: f"rigweek-{d}" for d in devices if d.startswith(device_prefix)}
    if not alias:
        return {}
    mine = {alias[d]: [dataclasses.replace(w, device=alias[d]) for w in devices[d]]
            for d in alias}
    found = {(alias[k[0]], *k[1:]): r for k, r in results.items() if k[0] in alias}
    raised = [{**a, "device_id": alias[a["device_id"]]} for a in alerts
              if a["device_id"] in alias]
    out = {}
    for key, value in week_figures(mine, found, raised, cadence_s).items():
        if isinstance(value, dict):
            value = {d.removeprefix("rigweek-"): v for d, v in value.items()}
        out[f"{generator}_" + key.removeprefix("rig_")] = value
    return out


def _of_device(device: str, windows: list[Sent], judged: list) -> tuple[list, list]:
    pairs = [(w, r) for w, r in zip(windows, judged, strict=True) if w.device == device]
    return [w for w, _ in pairs], [r for _, r in pairs]


def _flagged_share(windows: list[Sent], judged: list, running: bool) -> float | None:
    picked = [r for w, r in zip(windows, judged, strict=True) if w.running == running]
    return _round(sum(bool(r and r.get("anomaly")) for r in picked) / len(picked)) \
        if picked else None


def print_kinds(title: str, table: dict) -> None:
    """The per-kind AUCs, detector / peer, one row per kind, one column per severity."""
    print(f"{title}: ROC AUC of the published score / of the peer, pooled over units")
    print(f"  {'fault':<14}" + "".join(f"{'sev ' + str(s):>16}" for s in SEVERITIES))
    for kind, cells in table.items():
        if kind == "flagged":
            continue
        print(f"  {kind:<14}" + "".join(f"{_cell(*cells[tag(s)]):>16}" for s in SEVERITIES))
    kinds = [k for k in table if k != "flagged"]
    print(f"  flagged share by kind ({', '.join(kinds)}):")
    for s in SEVERITIES:
        print(f"    sev {s:<5} " + "  ".join("—" if v is None else f"{v:.2f}"
                                             for v in table["flagged"][tag(s)]))


def _cell(mine, peer) -> str:
    return "/".join("—" if v is None else f"{v:.3f}" for v in (mine, peer))
