"""bench/detection.py's third generator, `plant` (gateway.devtools.plant_sounds, written from
a physical description without reading synth.py, the rig or the detector): its audio source,
its vibration and device-week windows, and their figures, named plant_*. Off by default
(`--generators rig,synth,plant` turns it on), so that it stays a set nobody tuned on.

Units are drawn from ids plant-NN (audio, vibration) and plant-week-NN with the run's seed.
Vibration: bearing outer race, inner race and ball defects at each severity, planned like the
audio (baseline following the duty cycle, shuffled test windows, onsets)."""

from __future__ import annotations

import numpy as np

from bench.detection_figures import (
    Sent,
    auc_figures,
    onset_figures,
    scored_rows,
    week_figures_of,
    week_phase,
)
from gateway.devtools import plant_sounds as plant

VIBRATION_KINDS = ("bearing_outer", "bearing_inner", "bearing_ball")
GOALS = {
    "plant_pooled_auc_s050": (">=", 0.97), "plant_pooled_auc_s025": (">=", 0.93),
    "plant_worst_kind_auc_s050": (">=", 0.90), "plant_lead_over_peer_min": (">=", 0.0),
    "plant_false_alerts_per_device_day": ("<=", 0), "plant_onset_to_alert_worst": ("<=", 3),
    "plant_vibration_pooled_auc_s050": (">=", 0.95),
}


class PlantSource:
    name, kinds = "plant", plant.AUDIO_FAULTS

    def __init__(self, seed: int, kinds=plant.AUDIO_FAULTS):
        self.seed, self.kinds = seed, kinds

    def unit(self, index: int) -> plant.Unit:
        return plant.unit_for(f"plant-{index:02d}", seed=self.seed)

    def running(self, unit: plant.Unit, t_s: float) -> bool:
        return plant.running_at(unit, t_s)

    def audio(self, unit, t_s, fault, severity, running) -> tuple[np.ndarray, int]:
        return plant.audio_window(unit, t_s, fault, severity, running), unit.audio_rate


def send_extras(boxes, args, start_s: float, plan) -> None:
    """Vibration windows and healthy device-weeks; `plan` is detection.audio_plan."""
    source = PlantSource(args.seed, VIBRATION_KINDS)
    for index in range(args.units):
        unit = source.unit(index)
        rng = np.random.default_rng([args.seed, index, 77])
        for phase, kind, severity, t_s, running in plan(source, unit, start_s, args, rng):
            xyz = plant.vibration_window(unit, t_s, kind, severity, running)
            boxes.vibration(Sent(f"plantvib-{index:02d}", "vibration", int(t_s) * 1000, phase,
                                 kind, severity, running), xyz, unit.vib_rate)
    for index in range(args.week_units):
        unit = plant.unit_for(f"plant-week-{index:02d}", seed=args.seed)
        week = plant.device_week(unit, start_s + 20 * 86_400, args.week_cadence_s,
                                 args.week_days)
        for i, (t_s, running) in enumerate(week):
            boxes.audio(Sent(f"plantweek-{index:02d}", "audio", int(t_s) * 1000,
                             week_phase(i, args), None, 0.0, running),
                        plant.audio_window(unit, t_s), unit.audio_rate)


def figures(devices: dict, results: dict, alerts: list[dict], args) -> tuple[dict, dict]:
    """The vibration AUCs and onsets, and the device-week's false alerts."""
    vibration = {d: w for d, w in devices.items() if d.startswith("plantvib-")}
    flat, table = auc_figures("plant_vibration", scored_rows(vibration, results),
                              VIBRATION_KINDS)
    flat.update(onset_figures("plant_vibration", vibration, alerts, VIBRATION_KINDS,
                              args.onset))
    flat.update(week_figures_of("plant", "plantweek-", devices, results, alerts,
                                args.week_cadence_s))
    return flat, {"plant_vibration": table}

