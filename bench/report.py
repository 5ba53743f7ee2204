"""How a benchmark script prints its figures and saves them: one line per figure with its
goal beside it, the raw runs, and the same figures as JSON for bench/run_all."""

from __future__ import annotations

import json
from pathlib import Path


def report(title: str, figures: dict, goals: dict, runs: int, json_path: Path | None) -> None:
    """`goals` maps a figure to (">=" or "<=", value)."""
    print(f"{title} — {figures['machine']}, median of {runs} runs")
    for key, value in figures.items():
        if key in ("machine", "runs"):
            continue
        goal = goals.get(key)
        print(f"  {key:<28} {value:>10} {f'(goal {goal[0]} {goal[1]})' if goal else ''}")
    print(f"  runs: {figures['runs']}")
    if json_path:
        json_path.write_text(json.dumps(figures, indent=2))
