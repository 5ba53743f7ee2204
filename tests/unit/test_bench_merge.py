"""bench/run_all --merge: a partial run's figures over the previous ones, each part's time
kept beside the sets it measured."""

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_run_all():
    loader = importlib.machinery.SourceFileLoader("run_all", str(REPO / "bench" / "run_all"))
    spec = importlib.util.spec_from_loader("run_all", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["run_all"] = module  # its dataclasses look their module up
    loader.exec_module(module)
    return module


def test_sets_are_named_by_their_figures_and_a_sub_figure_stays_inside_its_set():
    run_all = load_run_all()
    figures = {"rig_pooled_auc_s050": 0.9, "rig_vibration_pooled_auc_s050": 1.0,
               "kitchen_pooled_auc_s025": 0.5, "kitchen_shaft_pooled_auc_s050": 0.9,
               "windows_sent": 10}
    assert run_all.figure_sets(figures) == ["kitchen", "rig"]


def test_a_merge_replaces_the_sets_it_measured_and_keeps_the_others():
    run_all = load_run_all()
    old = {"ran_at": "day 1", "runs": 1, "machine": "m",
           "figures": {"rig_pooled_auc_s050": 0.9, "screwhall_pooled_auc_s050": 0.8}}
    once = run_all.merge(old, {"screwhall_pooled_auc_s050": 0.85}, "day 2", "m")
    assert once["figures"] == {"rig_pooled_auc_s050": 0.9, "screwhall_pooled_auc_s050": 0.85}
    assert once["ran_at"] == "day 1 (rig); day 2 (screwhall)"
    tables = run_all.merge(once, {"kinds": {"rig": [1]}}, "day 3", "m")
    tables = run_all.merge(tables, {"kinds": {"screwhall": [2]}}, "day 4", "m")
    assert tables["figures"]["kinds"] == {"rig": [1], "screwhall": [2]}
    twice = run_all.merge(once, {"rig_pooled_auc_s050": 0.95}, "day 3", "m")
    assert twice["ran_at"] == "day 2 (screwhall); day 3 (rig)"
    assert twice["figures"]["rig_pooled_auc_s050"] == 0.95


def test_merge_from_the_command_line_writes_the_figures_and_the_table(tmp_path):
    results, doc = tmp_path / "results", tmp_path / "doc.md"
    results.mkdir()
    (results / "all.json").write_text(json.dumps({"benchmarks": {"detection": {
        "ran_at": "day 1", "runs": 1, "machine": None,
        "figures": {"rig_pooled_auc_s050": 0.9, "screwhall_pooled_auc_s050": 0.8}}}}))
    printed = tmp_path / "printed.out"  # the script's output: its JSON on the last line
    printed.write_text("a progress line\n" + json.dumps({"screwhall_pooled_auc_s050": 0.86}))
    doc.write_text("head\n<!-- bench:start -->\nTHE OLD TABLE\n<!-- bench:end -->\ntail\n")
    subprocess.run([sys.executable, str(REPO / "bench" / "run_all"), "--merge",
                    f"detection={printed}", "--results", str(results), "--doc", str(doc)],
                   check=True, capture_output=True, text=True)
    figures = json.loads((results / "detection.json").read_text())
    assert figures == {"rig_pooled_auc_s050": 0.9, "screwhall_pooled_auc_s050": 0.86}
    text = doc.read_text()
    assert "THE OLD TABLE" not in text and text.startswith("head\n") and text.endswith("tail\n")
    assert "(rig); " in text and "(screwhall)" in text
