"""Benchmark: the store look-ups of a book build, read from the committed results/ (never trains).

Times what the pages do with ``train=False``: the accuracy and calibration chapters' grids at the
``cpu`` and ``paper`` profiles (with the stored runs shown beside them) and their tables, and the
distillation chapter's Table 4 and Figure 7 points (with γ) of both FCN studies. Every call makes
its own default ``Store()``, as the pages do. Prints the best of ``--repeat`` timings (wall
clock and this process's CPU time, which a loaded machine disturbs less) per part and
a digest of the tables, so two versions of the code can be checked to give the same numbers.

    nice -n 19 .venv/bin/python bench/bench_store_lookups.py [--repeat 3] [--show]

It measures the lsbook of the checkout it is in; ``LSBOOK_RESULTS`` reads another store.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the lsbook of this checkout, not an installed one

from lsbook.book import distillation_report as report, tables  # noqa: E402
from lsbook.book.gather import gather, with_stored  # noqa: E402
from lsbook.book.settings import chapter_settings  # noqa: E402
from lsbook.experiments.distillation_grid import SETUPS  # noqa: E402
from lsbook.profiles import chapter_defaults  # noqa: E402


def _table_pages(chapter: str, table) -> str:
    out = []
    for profile in ("cpu", "paper"):
        settings = chapter_settings(chapter, profile)
        grids = with_stored([gather(name, settings.alphas, settings.seeds, profile, train=False)
                             for name in settings.recipes], settings.alphas)
        out.append(table(grids, settings.alphas))
    return "\n".join(out)


def accuracy_pages() -> str:
    """Table 2 of the cpu and paper builds (metrics only)."""
    return _table_pages("accuracy", tables.accuracy_table)


def calibration_pages() -> str:
    """Table 3 of the cpu and paper builds (reads every run's logits)."""
    return _table_pages("calibration", tables.calibration_table)


def distillation_pages() -> str:
    """Table 4 and the Figure 7 points (γ, accuracy) of the MNIST paper and Fashion-MNIST cpu studies."""
    out = []
    for name, profile in (("fcn-mnist", "paper"), ("fcn-fmnist", "cpu")):
        setup, seeds = SETUPS[name], list(chapter_defaults(profile, "distillation")["seeds"])
        out.append(str(len(report.stored_records(setup, profile, seeds))))
        out.append(report.table4_markdown(report.table4_summaries(setup, profile, seeds), name))
        out.append(report.points_markdown(report.figure_points(setup, profile, seeds)))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--show", action="store_true", help="print the tables too")
    args = parser.parse_args()
    wall_total = cpu_total = 0.0
    for part in (accuracy_pages, calibration_pages, distillation_pages):
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            text = part()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        wall_total, cpu_total = wall_total + min(walls), cpu_total + min(cpus)
        print(f"{part.__name__:20} best wall {min(walls):6.3f} s, CPU {min(cpus):6.3f} s  "
              f"tables sha256 {hashlib.sha256(text.encode()).hexdigest()[:16]}")
        if args.show:
            print(text)
    print(f"{'total':20} best wall {wall_total:6.3f} s, CPU {cpu_total:6.3f} s")


if __name__ == "__main__":
    main()
