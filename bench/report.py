"""How a benchmark script prints its figures and saves them: one line per figure with its
goal beside it, the raw runs, and the same figures as JSON for bench/run_all."""

from __future__ import annotations

import json
import statistics
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


def summarise(results: list[dict]) -> dict:
    """Runs of one figure set: the median of each figure, the raw rates, the worst RSS."""
    out = {key: statistics.median(r[key] for r in results) for key in results[0]}
    out["rates"] = [round(r["rate"]) for r in results]
    if "rss_mb" in results[0]:
        out["rss_mb"] = max(r["rss_mb"] for r in results)
    return out
