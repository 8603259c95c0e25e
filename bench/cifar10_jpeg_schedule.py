"""The schedule search of the CIFAR-10 (JPEG re-encode) recipes, read from stored runs (never trains).

The CPU recipes (``resnet56-cifar10-jpeg``, ``alexnet-cifar10-jpeg``) cut the paper recipes to a
length that one run trains in under an hour here. The length must still leave the unsmoothed ResNet
overconfident, the regime of the original's Figure 3: a temperature fitted on the validation split
of at least ``MIN_TEMPERATURE`` and a test ECE at T = 1 of at least ``MIN_ECE``. Every run records,
after each epoch, its validation NLL and ECE and the temperature fitted on validation; this script
prints them per epoch for the stored runs of a recipe, and the regime check of the last epoch.

    python bench/cifar10_jpeg_schedule.py                          # both recipes, every stored run
    python bench/cifar10_jpeg_schedule.py --recipe resnet56-cifar10-jpeg --alpha 0 --every 4
    python bench/cifar10_jpeg_schedule.py --checkpoint $LSBOOK_RUNS/<key>/checkpoint.pt   # a run still training

It reads the store of the checkout it is in (``LSBOOK_RESULTS`` reads another).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the lsbook of this checkout, not an installed one

from lsbook.store import Store  # noqa: E402

RECIPES = ("resnet56-cifar10-jpeg", "alexnet-cifar10-jpeg")
MIN_TEMPERATURE = 1.1  # overconfident: the fitted temperature softens the predictions
MIN_ECE = 0.02  # and the miscalibration is large enough for label smoothing to remove


def epoch_table(history: list[dict], every: int = 1) -> str:
    """One line per epoch (every ``every``-th, and the last): lr, training loss and accuracy, validation
    accuracy, NLL, ECE and fitted T, test accuracy, seconds."""
    lines = [f"{'epoch':>5} {'lr':>7} {'train loss':>10} {'train acc':>9} {'val acc':>7} {'val NLL':>7} "
             f"{'val ECE':>7} {'T(val)':>6} {'test acc':>8} {'s':>5}"]
    for entry in history:
        if entry["epoch"] % every and entry is not history[-1]:
            continue
        lines.append(f"{entry['epoch']:>5} {entry['lr']:>7.4f} {entry['train_loss']:>10.4f} "
                     f"{entry['train_accuracy']:>9.4f} {entry['val_accuracy']:>7.4f} {entry['val_nll']:>7.4f} "
                     f"{entry['val_ece']:>7.4f} {entry.get('val_temperature', float('nan')):>6.3f} "
                     f"{entry['test_accuracy']:>8.4f} {entry['seconds']:>5.0f}")
    return "\n".join(lines)


def regime(metrics: dict) -> str:
    """Whether a finished run is in the original's Figure 3 regime (overconfident at T = 1)."""
    temperature, ece = float(metrics["val_temperature"]), float(metrics["test_ece"])
    verdict = "overconfident" if temperature >= MIN_TEMPERATURE and ece >= MIN_ECE else "NOT in the regime"
    return (f"fitted T {temperature:.3f} (needs >= {MIN_TEMPERATURE}), test ECE at T = 1 {ece:.4f} "
            f"(needs >= {MIN_ECE}), at the fitted T {float(metrics['test_ece_at_val_temperature']):.4f}: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=RECIPES, action="append", default=None, help="default: both")
    parser.add_argument("--alpha", type=float, default=None, help="only runs with this α")
    parser.add_argument("--every", type=int, default=1, help="print every n-th epoch (and the last)")
    parser.add_argument("--checkpoint", default=None, help="a checkpoint.pt of a run that is still training")
    args = parser.parse_args(argv)
    if args.checkpoint:
        import torch

        state = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        print(f"{args.checkpoint}: step {state['global_step']} of {state['total_steps']}")
        print(epoch_table(state["history"], args.every))
        return 0
    store = Store()
    for recipe in args.recipe or RECIPES:
        records = [r for r in store.find(recipe=recipe, profile="paper") if not r.config.get("teacher_key")
                   and (args.alpha is None or r.config["alpha"] == args.alpha)]
        for record in sorted(records, key=lambda r: (r.config["alpha"], r.config["seed"])):
            provenance = record.provenance
            print(f"\n{recipe} α={record.config['alpha']:g} seed={record.config['seed']} (run {record.key}; "
                  f"{provenance.get('wall_seconds', 0) / 60:.0f} min, {provenance.get('cpu_capability', '?')}, "
                  f"{provenance.get('torch_threads', '?')} threads, commit {str(provenance.get('git_commit'))[:7]})")
            print(epoch_table(record.metrics["history"], args.every))
            print(regime(record.metrics))
        if not records:
            print(f"\n{recipe}: no stored run at the paper profile")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
