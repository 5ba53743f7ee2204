"""bench/detection.py's fifth generator, `rackhall` (gateway.devtools.rackhall, a compressor
rack's machine room written from physics without reading the other generators or the
detector): its audio source, its vibration and device-week windows, and their figures, named
rackhall_*. Off by default (`--generators rackhall`, alone or with others, turns it on), so
that it stays a set nobody tuned on.

Units are drawn from ids rackhall-NN (audio; its accelerometer is rackvib-NN) and
rackweek-NN with the run's seed. Vibration: the six vibration faults at each severity,
planned like the audio (baseline following the rack's staging, shuffled test windows,
onsets); the bearing defects are reported as rackhall_vibration_*, imbalance, misalignment
and looseness as rackhall_shaft_*. Audio may be stereo: the peer hears the channels' mean."""

from __future__ import annotations

import json

import numpy as np

from bench.detection_figures import (
    Sent,
    auc_figures,
    onset_figures,
    scored_rows,
    week_figures_of,
)
from gateway.devtools import rackhall

BEARING_KINDS = ("bearing_outer", "bearing_inner", "bearing_ball")
SHAFT_KINDS = ("imbalance", "misalignment", "looseness")
GOALS = {
    "rackhall_pooled_auc_s050": (">=", 0.97), "rackhall_pooled_auc_s025": (">=", 0.93),
    "rackhall_worst_kind_auc_s050": (">=", 0.90), "rackhall_lead_over_peer_min": (">=", 0.0),
    "rackhall_false_alerts_per_device_day": ("<=", 0),
    "rackhall_onset_to_alert_worst": ("<=", 3),
    "rackhall_vibration_pooled_auc_s050": (">=", 0.95),
}


class RackhallSource:
    name, kinds = "rackhall", rackhall.AUDIO_FAULTS

    def __init__(self, seed: int, kinds=rackhall.AUDIO_FAULTS):
        self.seed, self.kinds = seed, kinds

    def unit(self, index: int) -> rackhall.Unit:
        return rackhall.unit_for(f"rackhall-{index:02d}", seed=self.seed)

    def running(self, unit: rackhall.Unit, t_s: float) -> bool:
        return rackhall.running_at(unit, t_s)

    def audio(self, unit, t_s, fault, severity, running) -> tuple[np.ndarray, int]:
        return rackhall.audio_window(unit, t_s, fault, severity, running), unit.audio_rate


def send_extras(boxes, args, start_s: float, plan) -> None:
    """Vibration windows and healthy device-weeks; `plan` is detection.audio_plan."""
    source = RackhallSource(args.seed, rackhall.VIBRATION_FAULTS)
    for index in range(args.units):
        unit = source.unit(index)
        rng = np.random.default_rng([args.seed, index, 53])
        for phase, kind, severity, t_s, running in plan(source, unit, start_s, args, rng):
            xyz = rackhall.vibration_window(unit, t_s, kind, severity, running)
            boxes.vibration(Sent(f"rackvib-{index:02d}", "vibration", int(t_s) * 1000, phase,
                                 kind, severity, running), xyz, unit.vib_rate,
                            payload=json.dumps(rackhall.vibration_payload(unit, xyz, int(t_s))))
    for index in range(args.week_units):
        unit = rackhall.unit_for(f"rackweek-{index:02d}", seed=args.seed)
        week = rackhall.device_week(unit, start_s + 20 * 86_400, args.week_cadence_s,
                                    args.week_days)
        for i, (t_s, running) in enumerate(week):
            boxes.audio(Sent(f"rackweek-{index:02d}", "audio", int(t_s) * 1000,
                             "baseline" if i < args.baseline else "week", None, 0.0, running),
                        rackhall.audio_window(unit, t_s, running=running), unit.audio_rate)


def figures(devices: dict, results: dict, alerts: list[dict], args) -> tuple[dict, dict]:
    """The vibration AUCs and onsets (bearing and shaft faults apart), and the device-week's
    false alerts."""
    vibration = {d: w for d, w in devices.items() if d.startswith("rackvib-")}
    rows = scored_rows(vibration, results)
    flat, tables = {}, {}
    for prefix, kinds in (("rackhall_vibration", BEARING_KINDS), ("rackhall_shaft", SHAFT_KINDS)):
        mine = [r for r in rows if r["kind"] is None or r["kind"] in kinds]
        more, tables[prefix] = auc_figures(prefix, mine, kinds)
        flat.update(more)
        flat.update(onset_figures(prefix, vibration, alerts, kinds, args.onset))
    flat.update(week_figures_of("rackhall", "rackweek-", devices, results, alerts,
                                args.week_cadence_s))
    return flat, tables
