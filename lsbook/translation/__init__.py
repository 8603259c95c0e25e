"""The Transformer experiments of Sections 5.2–5.3: training on Multi30k, decoding, BLEU, calibration.

- :mod:`lsbook.translation.corpus` — sentence pairs, one tokenizer per language, token ids.
- :mod:`lsbook.translation.decoding` — batched greedy decoding and beam search (temperature on logits).
- :mod:`lsbook.translation.metrics` — token-level ECE / NLL / accuracy under teacher forcing
  (padding masked) and sacrebleu BLEU on detokenised text.
- :mod:`lsbook.translation.incremental` — next-token logits with a key/value cache.
- :mod:`lsbook.translation.settings` — what a run is: settings per profile, config, store key.
- :mod:`lsbook.translation.evaluation` — calibration curves, fitted temperature, BLEU of a model.
- :mod:`lsbook.translation.run` — ``ensure_translation_run(alpha, seed, profile)``: one stored run.
- :mod:`lsbook.translation.translator` — a finished run's model with its own tokenizers.

What the Transformer chapter shows is computed from the stored runs by
:mod:`lsbook.book.translation_report`.
"""

from lsbook.translation.run import ensure_translation_run, find_translation_run
from lsbook.translation.settings import TranslationSettings, plan_translation_run
from lsbook.translation.translator import load_translator

__all__ = ["TranslationSettings", "ensure_translation_run", "find_translation_run", "load_translator",
           "plan_translation_run"]
