"""What a translation run needs beyond its recipe: :class:`TranslationSettings`.

A Transformer run is a :class:`lsbook.run_config.RunConfig` whose resolved recipe (optimiser,
epochs, batch size, model size) comes with these settings (languages, vocabulary, decoding,
temperature grids); all of it enters the key. A profile's ``translation`` changes are applied by
:func:`lsbook.profiles.settings_for`, as its recipe changes are by :func:`lsbook.profiles.resolve`:
this module depends on no profile.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lsbook.data.text import check_language_pair
from lsbook.errors import LsbookError
from lsbook.recipes import json_ready
from lsbook.validation import check_positive_int, check_temperature

RECIPE = "transformer-multi30k"


def _steps(start: float, stop: float, step: float) -> tuple[float, ...]:
    """start, start + step, ..., stop (rounded to 1/1000, so that 1.0 is exactly in it)."""
    count = round((stop - start) / step)
    return tuple(round(start + i * step, 3) for i in range(count + 1))


# Figure 5's temperature axes. The token metrics (ECE, NLL, accuracy under teacher forcing) cost a
# softmax per temperature, so they are measured every 0.05 from 0.5 to 2; the minima of ECE and NLL
# lie between 0.8 and 1.2 in both papers and in our runs. BLEU costs a beam search over the split
# per temperature: every 0.05 from 0.8 to 1.5 (where beam search's optimum lies), coarser outside.
TOKEN_TEMPERATURES = _steps(0.5, 2.0, 0.05)
BLEU_TEMPERATURES = (0.5, 0.75) + _steps(0.8, 1.5, 0.05) + (1.75, 2.0)
# Where Figure 5 promises a fine grid: every optimum inside it is located to within this step.
FINE_RANGE, FINE_STEP = (0.8, 1.5), 0.05


@dataclass(frozen=True)
class TranslationSettings:
    """What a translation run needs beyond its recipe; every field enters the run's key."""

    source: str = "en"  # source language: the replication translates English ...
    target: str = "de"  # ... into German (seed 2.1, "Multi30k")
    vocab_size: int = 8000  # byte-level BPE vocabulary per language, trained on the train split only
    beam_size: int = 4  # beam search for BLEU (orig.: beam search; tensor2tensor's default beam 4)
    length_penalty: float = 0.6  # GNMT length normalisation α (tensor2tensor's default 0.6)
    max_len_a: float = 1.5  # a hypothesis has at most a·|source| + b tokens (EOS included)
    max_len_b: int = 10
    temperatures: tuple[float, ...] = TOKEN_TEMPERATURES  # T of the token ECE/NLL curves (Figure 5)
    bleu_temperatures: tuple[float, ...] = BLEU_TEMPERATURES  # T at which beam search is rerun for BLEU
    n_bins: int = 15  # ECE bins, as both papers
    eval_batch_size: int = 128  # sentences per teacher-forced / decoding batch (no effect on results)
    num_examples: int = 8  # example translations kept in the record (the first test sentences)

    def __post_init__(self) -> None:
        object.__setattr__(self, "temperatures", tuple(float(t) for t in self.temperatures))
        object.__setattr__(self, "bleu_temperatures", tuple(float(t) for t in self.bleu_temperatures))
        object.__setattr__(self, "length_penalty", float(self.length_penalty))
        object.__setattr__(self, "max_len_a", float(self.max_len_a))

    def validate(self) -> "TranslationSettings":
        check_language_pair(self.source, self.target)
        for name in ("vocab_size", "beam_size", "max_len_b", "n_bins", "eval_batch_size"):
            check_positive_int(getattr(self, name), name)
        check_positive_int(self.num_examples, "num_examples", minimum=0)
        if not self.length_penalty >= 0:
            raise LsbookError(f"length_penalty must be >= 0, got {self.length_penalty!r}")
        if not self.max_len_a >= 0:
            raise LsbookError(f"max_len_a must be >= 0, got {self.max_len_a!r}")
        for name in ("temperatures", "bleu_temperatures"):
            values = getattr(self, name)
            if 1.0 not in values:
                raise LsbookError(f"{name} must include T = 1 (the untempered model), got {values!r}")
            for t in values:
                check_temperature(t, name)
        return self

    def replace(self, **changes: Any) -> "TranslationSettings":
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise LsbookError(f"unknown translation setting(s) {', '.join(unknown)}; allowed: "
                              f"{', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes).validate()

    def to_dict(self) -> dict[str, Any]:
        return json_ready(dataclasses.asdict(self))

