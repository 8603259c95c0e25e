"""The Transformer experiments of Sections 5.2–5.3: training on Multi30k, decoding, BLEU, calibration.

- :mod:`lsbook.translation.corpus` — sentence pairs, one tokenizer per language, token ids.
- :mod:`lsbook.translation.decoding` — batched greedy decoding and beam search (temperature on logits).
- :mod:`lsbook.translation.metrics` — token-level ECE / NLL / accuracy under teacher forcing
  (padding masked) and sacrebleu BLEU on detokenised text.
- :mod:`lsbook.translation.incremental` — next-token logits with a key/value cache.
- :mod:`lsbook.translation.settings` — what a run needs beyond its recipe: settings per profile.
- :mod:`lsbook.translation.evaluation` — calibration curves, fitted temperature, BLEU of a model.
- :mod:`lsbook.translation.run` — a run as a task of the one loop (``lsbook.train.ensure_run`` trains it).
- :mod:`lsbook.translation.translator` — a finished run's model with its own tokenizers.

What the Transformer chapter shows is computed from the stored runs by
:mod:`lsbook.book.translation_report`.
"""

from lsbook.translation.settings import TranslationSettings
from lsbook.translation.translator import load_translator

__all__ = ["TranslationSettings", "load_translator"]
