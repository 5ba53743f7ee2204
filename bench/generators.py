"""How long the held-out generators take to make one window: bench/detection makes ~25,000
per set, so a slow generator is an hour-long benchmark. Prints, per generator, the median
milliseconds of a 1 s audio window at 48 kHz and of a 1 s vibration window at the highest
vibration rate among its first 200 units, over --windows faulty running windows after one
warm-up.
(These were timed assertions in the generators' unit tests; a shared CI machine made them
either loose or flaky, and a figure belongs here.)

    .venv/bin/python -m bench.generators [--windows 9] [--generators milkroom,...] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from bench.detection_heldout import SETS

T0 = 1_760_000_000.0
AUDIO_RATE = 48_000


def _median_ms(make, count: int) -> float:
    make(0)  # caches (wave tables, filters) are built on the first window
    times = []
    for i in range(1, count + 1):
        start = time.perf_counter()
        make(i)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def measure(name: str, count: int) -> dict[str, float]:
    gen = SETS[name].module
    unit = _largest_unit(gen, name)
    audio_fault, vib_fault = gen.AUDIO_FAULTS[0], gen.VIBRATION_FAULTS[0]
    return {
        f"{name}_audio_window_ms": round(_median_ms(
            lambda i: gen.audio_window(unit, T0 + 7.0 * i, audio_fault, 0.5, True), count), 2),
        f"{name}_vibration_window_ms": round(_median_ms(
            lambda i: gen.vibration_window(unit, T0 + 7.0 * i, vib_fault, 0.5, True),
            count), 2),
        f"{name}_vibration_rate": unit.vib_rate,
    }


def _largest_unit(gen, name: str):
    """Of the first 200 units, one at 48 kHz audio with the highest vibration rate: the
    dearest windows the benchmark makes (units are drawn, not built, so rates are not set)."""
    units = [gen.unit_for(f"{name}-bench-{i:03d}", seed=0) for i in range(200)]
    return max(units, key=lambda u: (u.audio_rate == AUDIO_RATE, u.vib_rate))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=9)
    parser.add_argument("--generators", default=",".join(SETS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    for name in args.generators.split(","):
        figures.update(measure(name, args.windows))
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    for key, value in figures.items():
        print(f"{key:44s} {value:g}")


if __name__ == "__main__":
    main()
