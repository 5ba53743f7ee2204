"""bench/detection.py's fourth generator, `coldroom` (gateway.devtools.coldroom, written from
physics without reading synth.py, the rig, the plant or the detector): its audio source, its
vibration and device-week windows, and their figures, named coldroom_*. Off by default
(`--generators coldroom`, alone or with others, turns it on), so that it stays a set nobody
tuned on.

Units are drawn from ids coldroom-NN (audio; its accelerometer is coldvib-NN) and
coldweek-NN with the run's seed. Vibration: the six vibration faults at each severity,
planned like the audio (baseline following the duty cycle, shuffled test windows, onsets);
the bearing defects are reported as coldroom_vibration_*, imbalance, misalignment and
looseness as coldroom_shaft_*. Audio may be stereo: the peer hears the channels' mean."""

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
from gateway.devtools import coldroom

BEARING_KINDS = ("bearing_outer", "bearing_inner", "bearing_ball")
SHAFT_KINDS = ("imbalance", "misalignment", "looseness")
GOALS = {
    "coldroom_pooled_auc_s050": (">=", 0.97), "coldroom_pooled_auc_s025": (">=", 0.93),
    "coldroom_worst_kind_auc_s050": (">=", 0.90), "coldroom_lead_over_peer_min": (">=", 0.0),
    "coldroom_false_alerts_per_device_day": ("<=", 0),
    "coldroom_onset_to_alert_worst": ("<=", 3),
    "coldroom_vibration_pooled_auc_s050": (">=", 0.95),
}


class ColdroomSource:
    name, kinds = "coldroom", coldroom.AUDIO_FAULTS

    def __init__(self, seed: int, kinds=coldroom.AUDIO_FAULTS):
        self.seed, self.kinds = seed, kinds

    def unit(self, index: int) -> coldroom.Unit:
        return coldroom.unit_for(f"coldroom-{index:02d}", seed=self.seed)

    def running(self, unit: coldroom.Unit, t_s: float) -> bool:
        return coldroom.running_at(unit, t_s)

    def audio(self, unit, t_s, fault, severity, running) -> tuple[np.ndarray, int]:
        return coldroom.audio_window(unit, t_s, fault, severity, running), unit.audio_rate


def send_extras(boxes, args, start_s: float, plan) -> None:
    """Vibration windows and healthy device-weeks; `plan` is detection.audio_plan."""
    source = ColdroomSource(args.seed, coldroom.VIBRATION_FAULTS)
    for index in range(args.units):
        unit = source.unit(index)
        rng = np.random.default_rng([args.seed, index, 41])
        for phase, kind, severity, t_s, running in plan(source, unit, start_s, args, rng):
            xyz = coldroom.vibration_window(unit, t_s, kind, severity, running)
            boxes.vibration(Sent(f"coldvib-{index:02d}", "vibration", int(t_s) * 1000, phase,
                                 kind, severity, running), xyz, unit.vib_rate,
                            payload=json.dumps(coldroom.vibration_payload(unit, xyz, int(t_s))))
    for index in range(args.week_units):
        unit = coldroom.unit_for(f"coldweek-{index:02d}", seed=args.seed)
        week = coldroom.device_week(unit, start_s + 20 * 86_400, args.week_cadence_s,
                                    args.week_days)
        for i, (t_s, running) in enumerate(week):
            boxes.audio(Sent(f"coldweek-{index:02d}", "audio", int(t_s) * 1000,
                             "baseline" if i < args.baseline else "week", None, 0.0, running),
                        coldroom.audio_window(unit, t_s), unit.audio_rate)


def figures(devices: dict, results: dict, alerts: list[dict], args) -> tuple[dict, dict]:
    """The vibration AUCs and onsets (bearing and shaft faults apart), and the device-week's
    false alerts."""
    vibration = {d: w for d, w in devices.items() if d.startswith("coldvib-")}
    rows = scored_rows(vibration, results)
    flat, tables = {}, {}
    for prefix, kinds in (("coldroom_vibration", BEARING_KINDS), ("coldroom_shaft", SHAFT_KINDS)):
        mine = [r for r in rows if r["kind"] is None or r["kind"] in kinds]
        more, tables[prefix] = auc_figures(prefix, mine, kinds)
        flat.update(more)
        flat.update(onset_figures(prefix, vibration, alerts, kinds, args.onset))
    flat.update(week_figures_of("coldroom", "coldweek-", devices, results, alerts,
                                args.week_cadence_s))
    return flat, tables

