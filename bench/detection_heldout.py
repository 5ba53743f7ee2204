"""bench/detection.py's held-out generators written blind after the plant, `coldroom`
(gateway.devtools.coldroom, the fourth: diagnosed on since its first measurement),
`rackhall` (gateway.devtools.rackhall, the fifth: a compressor rack's machine room,
diagnosed on since its first measurement), `rooftop` (gateway.devtools.rooftop, the sixth:
outdoor condensing units in a row on a roof or yard, diagnosed on since its first
measurement) and `screwhall` (gateway.devtools.screwhall, the seventh: an industrial engine
room of oil-injected screw compressors, measured blind twice) and `kitchen`
(gateway.devtools.kitchen, the eighth: the back of house of restaurants and canteens,
walk-ins, reach-ins and an ice machine among the kitchen's noise) and `salesfloor`
(gateway.devtools.salesfloor, the ninth: plug-in display cases and bottle coolers on a
supermarket's sales floor, written blind) and `reeferyard` (gateway.devtools.reeferyard, the
tenth: reefer containers in a port's container yard, written blind) and `brewcellar`
(gateway.devtools.brewcellar, the eleventh: a craft brewery's cellar and plant room, glycol
chillers and keg-store units among pumps, keg washing and a canning line, written blind) and
`milkroom` (gateway.devtools.milkroom, the twelfth: dairy farms' milk rooms, bulk-tank
condensing units cooling after each milking beside the parlour, written blind; tuned on since
its first measurement) and `freezerdock` (gateway.devtools.freezerdock, the thirteenth: a
frozen-food distribution centre, condensing units with defrost cycles among forklifts, dock
doors and idling truck reefers, written blind).
All expose the same
public functions, so one adapter serves them: the audio source, the vibration and
device-week windows, and their figures, named <name>_*. Off by default (`--generators
coldroom,rackhall,rooftop,screwhall,kitchen,salesfloor,reeferyard,brewcellar,milkroom,
freezerdock`,
alone or
with others).

Units are drawn from ids <name>-NN (audio; the accelerometer is <vibration>-NN) and
<week>-NN with the run's seed. Vibration: the six vibration faults at each severity, planned
like the audio (baseline following the duty cycle, shuffled test windows, onsets); bearing
defects are reported as <name>_vibration_*, imbalance, misalignment and looseness as
<name>_shaft_*. Audio may be stereo: the peer hears the channels' mean."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from bench.detection_figures import (
    Sent,
    auc_figures,
    onset_figures,
    scored_rows,
    week_figures_of,
    week_phase,
)
from gateway.devtools import (
    brewcellar,
    coldroom,
    freezerdock,
    kitchen,
    milkroom,
    rackhall,
    reeferyard,
    rooftop,
    salesfloor,
    screwhall,
)

BEARING_KINDS = ("bearing_outer", "bearing_inner", "bearing_ball")
SHAFT_KINDS = ("imbalance", "misalignment", "looseness")
GOALS = {
    "coldroom_pooled_auc_s050": (">=", 0.97), "coldroom_pooled_auc_s025": (">=", 0.93),
    "coldroom_worst_kind_auc_s050": (">=", 0.90), "coldroom_lead_over_peer_min": (">=", 0.0),
    "coldroom_false_alerts_per_device_day": ("<=", 0),
    "coldroom_onset_to_alert_worst": ("<=", 3),
    "coldroom_vibration_pooled_auc_s050": (">=", 0.95),
    "rackhall_pooled_auc_s050": (">=", 0.97), "rackhall_pooled_auc_s025": (">=", 0.93),
    "rackhall_worst_kind_auc_s050": (">=", 0.90), "rackhall_lead_over_peer_min": (">=", 0.0),
    "rackhall_false_alerts_per_device_day": ("<=", 0),
    "rackhall_onset_to_alert_worst": ("<=", 3),
    "rackhall_vibration_pooled_auc_s050": (">=", 0.95),
    "rooftop_pooled_auc_s050": (">=", 0.97), "rooftop_pooled_auc_s025": (">=", 0.93),
    "rooftop_worst_kind_auc_s050": (">=", 0.90), "rooftop_lead_over_peer_min": (">=", 0.0),
    "rooftop_false_alerts_per_device_day": ("<=", 0),
    "rooftop_onset_to_alert_worst": ("<=", 3),
    "rooftop_vibration_pooled_auc_s050": (">=", 0.95),
    "screwhall_pooled_auc_s050": (">=", 0.97), "screwhall_pooled_auc_s025": (">=", 0.93),
    "screwhall_worst_kind_auc_s050": (">=", 0.90), "screwhall_lead_over_peer_min": (">=", 0.0),
    "screwhall_false_alerts_per_device_day": ("<=", 0),
    "screwhall_onset_to_alert_worst": ("<=", 3),
    "screwhall_vibration_pooled_auc_s050": (">=", 0.95),
    "kitchen_pooled_auc_s050": (">=", 0.97), "kitchen_pooled_auc_s025": (">=", 0.93),
    "kitchen_worst_kind_auc_s050": (">=", 0.90), "kitchen_lead_over_peer_min": (">=", 0.0),
    "kitchen_false_alerts_per_device_day": ("<=", 0),
    "kitchen_onset_to_alert_worst": ("<=", 3),
    "kitchen_vibration_pooled_auc_s050": (">=", 0.95),
    "salesfloor_pooled_auc_s050": (">=", 0.97), "salesfloor_pooled_auc_s025": (">=", 0.93),
    "salesfloor_worst_kind_auc_s050": (">=", 0.90), "salesfloor_lead_over_peer_min": (">=", 0.0),
    "salesfloor_false_alerts_per_device_day": ("<=", 0),
    "salesfloor_onset_to_alert_worst": ("<=", 3),
    "salesfloor_vibration_pooled_auc_s050": (">=", 0.95),
    "reeferyard_pooled_auc_s050": (">=", 0.97), "reeferyard_pooled_auc_s025": (">=", 0.93),
    "reeferyard_worst_kind_auc_s050": (">=", 0.90), "reeferyard_lead_over_peer_min": (">=", 0.0),
    "reeferyard_false_alerts_per_device_day": ("<=", 0),
    "reeferyard_onset_to_alert_worst": ("<=", 3),
    "reeferyard_vibration_pooled_auc_s050": (">=", 0.95),
    "brewcellar_pooled_auc_s050": (">=", 0.97), "brewcellar_pooled_auc_s025": (">=", 0.93),
    "brewcellar_worst_kind_auc_s050": (">=", 0.90), "brewcellar_lead_over_peer_min": (">=", 0.0),
    "brewcellar_false_alerts_per_device_day": ("<=", 0),
    "brewcellar_onset_to_alert_worst": ("<=", 3),
    "brewcellar_vibration_pooled_auc_s050": (">=", 0.95),
    "milkroom_pooled_auc_s050": (">=", 0.97), "milkroom_pooled_auc_s025": (">=", 0.93),
    "milkroom_worst_kind_auc_s050": (">=", 0.90), "milkroom_lead_over_peer_min": (">=", 0.0),
    "milkroom_false_alerts_per_device_day": ("<=", 0),
    "milkroom_onset_to_alert_worst": ("<=", 3),
    "milkroom_vibration_pooled_auc_s050": (">=", 0.95),
    "freezerdock_pooled_auc_s050": (">=", 0.97), "freezerdock_pooled_auc_s025": (">=", 0.93),
    "freezerdock_worst_kind_auc_s050": (">=", 0.90),
    "freezerdock_lead_over_peer_min": (">=", 0.0),
    "freezerdock_false_alerts_per_device_day": ("<=", 0),
    "freezerdock_onset_to_alert_worst": ("<=", 3),
    "freezerdock_vibration_pooled_auc_s050": (">=", 0.95),
}  # a literal: bench/run_all reads it without importing this script


@dataclass(frozen=True)
class HeldOut:
    name: str  # of the generator, its figures and its audio units
    module: ModuleType  # gateway.devtools.<name>
    vibration_id: str  # prefix of its accelerometers' device ids
    week_id: str  # prefix of its device-week units' ids
    salt: int  # of the vibration plan's random numbers (the runs recorded so far used these)

    @property
    def kinds(self) -> tuple[str, ...]:
        return self.module.AUDIO_FAULTS

    def source(self, seed: int, kinds: tuple[str, ...] | None = None) -> Source:
        return Source(self, seed, kinds or self.kinds)

    def send_extras(self, boxes, args, start_s: float, plan) -> None:
        """Vibration windows and healthy device-weeks; `plan` is detection.audio_plan."""
        gen, source = self.module, self.source(args.seed, self.module.VIBRATION_FAULTS)
        for index in range(args.units):
            unit = source.unit(index)
            rng = np.random.default_rng([args.seed, index, self.salt])
            for phase, kind, severity, t_s, running in plan(source, unit, start_s, args, rng):
                xyz = gen.vibration_window(unit, t_s, kind, severity, running)
                boxes.vibration(Sent(f"{self.vibration_id}-{index:02d}", "vibration",
                                     int(t_s) * 1000, phase, kind, severity, running),
                                xyz, unit.vib_rate,
                                payload=json.dumps(gen.vibration_payload(unit, xyz, int(t_s))))
        for index in range(args.week_units):
            device = f"{self.week_id}-{index:02d}"
            unit = gen.unit_for(device, seed=args.seed)
            week = gen.device_week(unit, start_s + 20 * 86_400, args.week_cadence_s,
                                   args.week_days)
            for i, (t_s, running) in enumerate(week):
                boxes.audio(Sent(device, "audio", int(t_s) * 1000,
                                 week_phase(i, args), None, 0.0, running),
                            gen.audio_window(unit, t_s, running=running), unit.audio_rate)

    def figures(self, devices: dict, results: dict, alerts: list[dict], args
                ) -> tuple[dict, dict]:
        """The vibration AUCs and onsets (bearing and shaft faults apart), and the
        device-week's false alerts."""
        vibration = {d: w for d, w in devices.items() if d.startswith(f"{self.vibration_id}-")}
        rows = scored_rows(vibration, results)
        flat, tables = {}, {}
        for prefix, kinds in ((f"{self.name}_vibration", BEARING_KINDS),
                              (f"{self.name}_shaft", SHAFT_KINDS)):
            mine = [r for r in rows if r["kind"] is None or r["kind"] in kinds]
            more, tables[prefix] = auc_figures(prefix, mine, kinds)
            flat.update(more)
            flat.update(onset_figures(prefix, vibration, alerts, kinds, args.onset))
        flat.update(week_figures_of(self.name, f"{self.week_id}-", devices, results, alerts,
                                    args.week_cadence_s))
        return flat, tables


@dataclass(frozen=True)
class Source:
    """What detection.send_audio asks of a generator."""

    generator: HeldOut
    seed: int
    kinds: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.generator.name

    def unit(self, index: int):
        return self.generator.module.unit_for(f"{self.name}-{index:02d}", seed=self.seed)

    def running(self, unit, t_s: float) -> bool:
        return self.generator.module.running_at(unit, t_s)

    def audio(self, unit, t_s, fault, severity, running) -> tuple[np.ndarray, int]:
        return (self.generator.module.audio_window(unit, t_s, fault, severity, running),
                unit.audio_rate)


SETS = {held.name: held for held in (HeldOut("coldroom", coldroom, "coldvib", "coldweek", 41),
                                     HeldOut("rackhall", rackhall, "rackvib", "rackweek", 53),
                                     HeldOut("rooftop", rooftop, "roofvib", "roofweek", 67),
                                     HeldOut("screwhall", screwhall, "screwvib", "screwweek",
                                             71),
                                     HeldOut("kitchen", kitchen, "kitchvib", "kitchweek", 73),
                                     HeldOut("salesfloor", salesfloor, "salesvib", "salesweek",
                                             79),
                                     HeldOut("reeferyard", reeferyard, "reefvib", "reefweek",
                                             83),
                                     HeldOut("brewcellar", brewcellar, "brewvib", "brewweek",
                                             89),
                                     HeldOut("milkroom", milkroom, "milkvib", "milkweek", 97),
                                     HeldOut("freezerdock", freezerdock, "dockvib", "dockweek",
                                             101))}
