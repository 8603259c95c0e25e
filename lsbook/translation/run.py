"""One Transformer translation run (Sections 5.2 and 5.3 of the replication), trained and stored.

``ensure_translation_run(alpha, seed, profile)`` is the translation counterpart of
:func:`lsbook.train.ensure_run` (which hands ``transformer`` recipes to it): it returns the stored
record, or trains the run (resuming from its last checkpoint), evaluates it and stores it. The
run's identity is the resolved ``transformer-multi30k`` recipe (optimiser, epochs, batch size,
model size: :mod:`lsbook.recipes`, :mod:`lsbook.profiles`) plus this module's
:class:`TranslationSettings` (languages, vocabulary, decoding, temperatures), α, seed and the
engine version.

Training: label-smoothed cross-entropy over the target vocabulary, padding ignored
(:func:`lsbook.losses.label_smoothing_cross_entropy` with ``ignore_index=PAD_ID``), Adam as the
recipe says (PyTorch's translation example: lr 1e-4, betas 0.9/0.98, eps 1e-9, batch 128,
18 epochs). A checkpoint is written atomically after every epoch; a killed run resumes from it and
ends as an uninterrupted one would.

The record stays compact (DESIGN.md): per temperature T the token-level ECE, NLL, accuracy and
reliability bins and the beam-search BLEU on val and test; the temperature fitted on *val* token
logits (:func:`lsbook.calibration.fit_temperature`) and the test metrics at that T; example
translations; the tokenizers' fingerprints. No vocabulary-wide logits are stored.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from lsbook import ENGINE_VERSION
from lsbook.calibration import fit_temperature
from lsbook.data.text import PAD_ID, Tokenizer, bucket_batches, check_language_pair
from lsbook.errors import LsbookError, TrainingDivergedError
from lsbook.losses import label_smoothing_cross_entropy
from lsbook.recipes import PROFILES, Recipe, json_ready, resolve
from lsbook.store import Record, Store, config_key, provenance
from lsbook.translation.corpus import (TranslationCorpus, check_fingerprints, load_corpus, load_tokenizers)
from lsbook.translation.decoding import translate
from lsbook.translation.metrics import (BleuScore, TokenLogits, bleu_of_ids, calibration_curve,
                                        teacher_forced_logits, token_calibration)
from lsbook.validation import check_alpha, check_choice, check_positive_int, check_temperature

RECIPE = "transformer-multi30k"
CHECKPOINT_FORMAT = 1
# Figure 5's temperature axis (0.5 to 2); the paper profile evaluates every point of it.
TEMPERATURE_GRID = (0.5, 0.625, 0.75, 0.875, 1.0, 1.125, 1.25, 1.375, 1.5, 1.625, 1.75, 1.875, 2.0)


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
    temperatures: tuple[float, ...] = TEMPERATURE_GRID  # T of the token ECE/NLL curves (Figure 5)
    bleu_temperatures: tuple[float, ...] = TEMPERATURE_GRID  # T at which beam search is rerun for BLEU
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


# Per profile. cpu: the full data, the coarser half of the temperature grid for beam-search BLEU.
# smoke: a few hundred sentences (the recipe's subsets), a tiny vocabulary, 3 temperatures.
SETTINGS: dict[str, TranslationSettings] = {
    "paper": TranslationSettings(),
    "cpu": TranslationSettings(temperatures=TEMPERATURE_GRID,
                               bleu_temperatures=(0.5, 0.75, 1.0, 1.25, 1.5, 2.0)),
    "smoke": TranslationSettings(vocab_size=1000, beam_size=2, temperatures=(0.5, 1.0, 2.0),
                                 bleu_temperatures=(0.5, 1.0, 2.0), num_examples=3),
}


def settings_for(profile: str) -> TranslationSettings:
    check_choice(profile, PROFILES, "profile")
    return SETTINGS[profile].validate()


# --- Run identity ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TranslationPlan:
    """A translation run before it runs: resolved recipe, settings, config and store key."""

    recipe: Recipe
    settings: TranslationSettings
    config: dict[str, Any]
    key: str


def plan_translation_run(alpha: float, seed: int, profile: str, *, recipe: str | Recipe = RECIPE,
                         settings: TranslationSettings | None = None) -> TranslationPlan:
    """Check every argument and compute the run's config and key (nothing is written)."""
    check_choice(profile, PROFILES, "profile")
    resolved = recipe.validate() if isinstance(recipe, Recipe) else resolve(str(recipe), profile)
    if resolved.model != "transformer":
        raise LsbookError(f"recipe {resolved.name!r} trains a {resolved.model!r}, not a transformer")
    alpha = check_alpha(alpha)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LsbookError(f"seed must be an integer >= 0, got {seed!r}")
    settings = (settings or settings_for(profile)).validate()
    config = json_ready({
        "recipe": resolved.name,
        "profile": profile,
        "alpha": alpha,
        "seed": int(seed),
        "engine_version": ENGINE_VERSION,
        "dataset": resolved.dataset,
        "model": resolved.model,
        "num_classes": settings.vocab_size,   # requested target vocabulary (the head's outputs)
        "teacher_key": None,
        "distill": None,
        "step_callback": None,
        "resolved_recipe": resolved.to_dict(),
        "translation": settings.to_dict(),
    })
    return TranslationPlan(resolved, settings, config, config_key(config))


# --- Training -------------------------------------------------------------------------------------

def build_model(recipe: Recipe, corpus: TranslationCorpus) -> torch.nn.Module:
    """The recipe's transformer sized for the corpus's two vocabularies."""
    from lsbook.models import build

    return build("transformer", corpus.target_tokenizer.vocab_size,
                 src_vocab=corpus.source_tokenizer.vocab_size, pad_id=PAD_ID, **recipe.model_kwargs)


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """Adam (the recipe's lr, betas, eps) or SGD, with the recipe's weight decay on every parameter."""
    if recipe.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=recipe.lr, betas=recipe.adam_betas,
                                eps=recipe.adam_eps, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           dampening=recipe.dampening, nesterov=recipe.nesterov,
                           weight_decay=recipe.weight_decay)


def sequence_loss(model: torch.nn.Module, src: torch.Tensor, tgt: torch.Tensor, alpha: float) -> torch.Tensor:
    """Label-smoothed cross-entropy of predicting tgt[:, 1:] from tgt[:, :-1], padding ignored."""
    logits = model(src, tgt[:, :-1])                                              # [B, T-1, V]
    return label_smoothing_cross_entropy(logits, tgt[:, 1:], alpha, ignore_index=PAD_ID)


def batch_generator(seed: int, epoch: int) -> torch.Generator:
    """The shuffling generator of one epoch: fixed by (seed, epoch), so resuming needs no state."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))


def eval_batches(corpus: TranslationCorpus, split: str, batch_size: int, device: torch.device):
    """(src, tgt) batches of ``split`` in corpus order, on ``device``."""
    for src, tgt in bucket_batches(corpus.ids[split], batch_size, shuffle=False):
        yield src.to(device), tgt.to(device)


def write_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save to a temporary file beside ``path``, fsync, rename: never a half-written file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_checkpoint(path: Path, key: str) -> dict[str, Any] | None:
    """This run's checkpoint, or None when absent or unusable (then training starts afresh)."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - a damaged checkpoint is not fatal
        print(f"warning: ignoring unreadable checkpoint {path} ({error}); training from the start", file=sys.stderr)
        return None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("key") != key:
        print(f"warning: ignoring checkpoint {path} of another run or format; training from the start",
              file=sys.stderr)
        return None
    return state


def prepare_corpus(plan: TranslationPlan, run_dir: Path, data_root: str | os.PathLike | None,
                   checkpoint: dict[str, Any] | None) -> TranslationCorpus:
    """The run's corpus: tokenizers trained afresh, or — when resuming — the ones saved with the run,
    checked against the checkpoint's fingerprints."""
    recipe, settings = plan.recipe, plan.settings
    subsets = {"train": recipe.train_subset, "val": recipe.val_subset, "test": recipe.test_subset}
    tokenizers = None
    if checkpoint is not None:
        tokenizers = load_tokenizers(run_dir, settings.source, settings.target)
        check_fingerprints(checkpoint["fingerprints"], *tokenizers, where=f"the checkpoint in {run_dir}")
    corpus = load_corpus(settings.vocab_size, source=settings.source, target=settings.target,
                         root=data_root, subsets=subsets, tokenizers=tokenizers)
    if checkpoint is None:
        corpus.save_tokenizers(run_dir)
    return corpus


@dataclass
class TranslationOutcome:
    metrics: dict[str, Any]
    arrays: dict[str, np.ndarray]
    provenance: dict[str, Any]
    model: torch.nn.Module = field(repr=False)


def train_translation(plan: TranslationPlan, device: torch.device, run_dir: Path, *,
                      data_root: str | os.PathLike | None = None, progress: bool = True,
                      on_epoch_end: Callable[[int], None] | None = None) -> TranslationOutcome:
    """Train (or resume) the run in ``run_dir``, then evaluate it; ``on_epoch_end(epoch)`` is called
    after each epoch's checkpoint is written (tests use it to interrupt a run)."""
    started = time.time()
    alpha, seed, recipe = plan.config["alpha"], plan.config["seed"], plan.recipe
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = run_dir / "checkpoint.pt"
    checkpoint = read_checkpoint(checkpoint_path, plan.key)
    corpus = prepare_corpus(plan, run_dir, data_root, checkpoint)

    torch.manual_seed(seed)  # initialisation and dropout
    model = build_model(recipe, corpus).to(device)
    optimizer = make_optimizer(model, recipe)
    history: list[dict[str, Any]] = []
    start_epoch, train_seconds = 0, 0.0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["rng"])
        start_epoch, history, train_seconds = checkpoint["epoch"], checkpoint["history"], checkpoint["train_seconds"]
        _log(progress, f"resuming {plan.key} after epoch {start_epoch}")

    for epoch in range(start_epoch, recipe.epochs):
        epoch_start = time.time()
        model.train()
        total, count = 0.0, 0
        batches = bucket_batches(corpus.ids["train"], recipe.batch_size, batch_generator(seed, epoch))
        steps = -(-len(corpus.ids["train"]) // recipe.batch_size)
        for src, tgt in tqdm(batches, total=steps, desc=f"epoch {epoch + 1}/{recipe.epochs}",
                             disable=not progress, leave=False):
            src, tgt = src.to(device), tgt.to(device)
            loss = sequence_loss(model, src, tgt, alpha) * recipe.loss_multiplier
            if not torch.isfinite(loss):
                raise TrainingDivergedError(f"training loss became {loss.item()} in epoch {epoch + 1} of run "
                                            f"{plan.key} (alpha={alpha}, lr={recipe.lr}); lower the lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.grad_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip_norm)
            optimizer.step()
            total, count = total + float(loss.detach()) * len(src), count + len(src)
        val = token_calibration(teacher_forced_logits(model, eval_batches(corpus, "val", plan.settings.eval_batch_size,
                                                                          device)), 1.0, plan.settings.n_bins)
        train_seconds += time.time() - epoch_start
        history.append({"epoch": epoch + 1, "train_loss": total / count, "val_nll": val.nll,
                        "val_accuracy": val.accuracy, "val_ece": val.ece, "seconds": time.time() - epoch_start})
        _log(progress, f"epoch {epoch + 1}/{recipe.epochs}: train loss {total / count:.4f}, val NLL "
                       f"{val.nll:.4f}, val token accuracy {val.accuracy:.4f} ({time.time() - epoch_start:.0f} s)")
        write_checkpoint(checkpoint_path, {
            "format": CHECKPOINT_FORMAT, "key": plan.key, "epoch": epoch + 1, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), "history": history,
            "train_seconds": train_seconds, "fingerprints": corpus.fingerprints})
        if on_epoch_end is not None:
            on_epoch_end(epoch)

    eval_start = time.time()
    metrics, arrays = evaluate_translation(model, corpus, plan.settings, device, progress=progress)
    metrics["history"] = history
    metrics["train_seconds"] = train_seconds
    metrics["eval_seconds"] = time.time() - eval_start
    return TranslationOutcome(metrics, arrays, provenance(device, time.time() - started), model)


# --- Evaluation -----------------------------------------------------------------------------------

def decode_split(model, corpus: TranslationCorpus, split: str, settings: TranslationSettings, device: torch.device,
                 *, temperature: float = 1.0, beam_size: int | None = None) -> BleuScore:
    """Translate every source sentence of ``split`` and score it with sacrebleu against the raw references."""
    sources = ((src.to(device)) for src, _ in bucket_batches(corpus.ids[split], settings.eval_batch_size,
                                                             shuffle=False))
    ids = translate(model, sources, beam_size=settings.beam_size if beam_size is None else beam_size,
                    length_penalty=settings.length_penalty, temperature=temperature,
                    max_len_a=settings.max_len_a, max_len_b=settings.max_len_b)
    return bleu_of_ids(ids, corpus.target_tokenizer, corpus.references(split))


def evaluate_translation(model, corpus: TranslationCorpus, settings: TranslationSettings, device: torch.device, *,
                         progress: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Token calibration curves, fitted temperature, BLEU curves and examples of a trained model.

    The temperature is fitted on the val tokens and only *reported* on test (the replication
    picked its temperatures on the test split).
    """
    tokens: dict[str, TokenLogits] = {split: teacher_forced_logits(model, eval_batches(
        corpus, split, settings.eval_batch_size, device)) for split in ("val", "test")}
    fitted = fit_temperature(tokens["val"].logits, tokens["val"].labels)
    _log(progress, f"temperature fitted on val tokens: T = {fitted:.3f}")
    curves = {split: calibration_curve(tokens[split], settings.temperatures, settings.n_bins)
              for split in ("val", "test")}
    at_fitted = token_calibration(tokens["test"], fitted, settings.n_bins)
    del tokens

    jobs = [(split, t) for t in settings.bleu_temperatures for split in ("val", "test")] + [("test", fitted)]
    bleu: dict[tuple[str, float], BleuScore] = {}
    for split, t in tqdm(jobs, desc="beam search", disable=not progress, leave=False):
        bleu[(split, t)] = decode_split(model, corpus, split, settings, device, temperature=t)
    greedy = decode_split(model, corpus, "test", settings, device, beam_size=1)
    _log(progress, f"test BLEU {bleu[('test', 1.0)].score:.2f} (beam {settings.beam_size}), "
                   f"{greedy.score:.2f} (greedy); at fitted T {bleu[('test', fitted)].score:.2f}")

    index_one = settings.temperatures.index(1.0)
    metrics: dict[str, Any] = {}
    for split in ("val", "test"):
        at_one = curves[split][index_one]
        metrics.update({f"{split}_accuracy": at_one.accuracy, f"{split}_nll": at_one.nll, f"{split}_ece": at_one.ece,
                        f"{split}_bleu": bleu[(split, 1.0)].score, f"{split}_tokens": at_one.tokens})
    metrics.update({
        "val_temperature": fitted,
        "test_ece_at_val_temperature": at_fitted.ece,
        "test_nll_at_val_temperature": at_fitted.nll,
        "test_bleu_at_val_temperature": bleu[("test", fitted)].score,
        "test_bleu_greedy": greedy.score,
        "bleu_signature": bleu[("test", 1.0)].signature,
        "curves": {"temperatures": list(settings.temperatures),
                   **{split: {"ece": [c.ece for c in curves[split]], "nll": [c.nll for c in curves[split]],
                              "accuracy": [c.accuracy for c in curves[split]]} for split in ("val", "test")}},
        "bleu_curves": {"temperatures": list(settings.bleu_temperatures),
                        **{split: [bleu[(split, t)].score for t in settings.bleu_temperatures]
                           for split in ("val", "test")}},
        "tokenizers": {role: {"language": tok.language, "fingerprint": tok.fingerprint, "vocab_size": tok.vocab_size}
                       for role, tok in (("source", corpus.source_tokenizer), ("target", corpus.target_tokenizer))},
        "examples": [{"source": source, "reference": reference, "hypothesis": hypothesis, "greedy": greedy_text}
                     for (source, reference), hypothesis, greedy_text in zip(
                         corpus.raw["test"][:settings.num_examples], bleu[("test", 1.0)].hypotheses,
                         greedy.hypotheses)],
    })
    arrays = {"temperatures": np.asarray(settings.temperatures, np.float64),
              "bin_edges": np.asarray(at_fitted.bins.edges, np.float64)}
    for split in ("val", "test"):
        arrays[f"{split}_bins_counts"] = np.stack([c.bins.counts for c in curves[split]]).astype(np.int64)
        arrays[f"{split}_bins_confidence"] = np.stack([c.bins.confidence for c in curves[split]])
        arrays[f"{split}_bins_accuracy"] = np.stack([c.bins.accuracy for c in curves[split]])
    arrays["test_bins_fitted_counts"] = at_fitted.bins.counts.astype(np.int64)
    arrays["test_bins_fitted_confidence"] = at_fitted.bins.confidence
    arrays["test_bins_fitted_accuracy"] = at_fitted.bins.accuracy
    return metrics, arrays


# --- The public entry point -----------------------------------------------------------------------

def default_runs_root() -> Path:
    """Checkpoints: ``$LSBOOK_RUNS`` or ``<repo>/runs`` (shared with lsbook.train; not committed)."""
    from lsbook.train import default_runs_root as engine_runs_root

    return engine_runs_root()


def find_translation_run(alpha: float, seed: int, profile: str, *, store: Store | None = None,
                         recipe: str | Recipe = RECIPE, settings: TranslationSettings | None = None) -> Record | None:
    """The stored record of this run, or None (never trains)."""
    plan = plan_translation_run(alpha, seed, profile, recipe=recipe, settings=settings)
    return (store or Store()).get(plan.key, plan.config)


def ensure_translation_run(alpha: float, seed: int, profile: str, *, store: Store | None = None,
                           device: str | torch.device | None = None, progress: bool = True,
                           recipe: str | Recipe = RECIPE, settings: TranslationSettings | None = None,
                           data_root: str | os.PathLike | None = None,
                           runs_root: str | os.PathLike | None = None) -> Record:
    """The stored record of a translation run; trains, evaluates and stores it first if missing."""
    from lsbook.train import deterministic_algorithms, pick_device

    plan = plan_translation_run(alpha, seed, profile, recipe=recipe, settings=settings)
    store = store or Store()
    stored = store.get(plan.key, plan.config)
    if stored is not None:
        return stored
    chosen = pick_device(device)
    run_dir = Path(runs_root) if runs_root is not None else default_runs_root()
    run_dir = run_dir / plan.key
    run_dir.mkdir(parents=True, exist_ok=True)
    with _exclusive(run_dir / "lock"):
        stored = store.get(plan.key, plan.config)  # another process may have finished it meanwhile
        if stored is None:
            (run_dir / "config.json").write_text(json.dumps(plan.config, indent=1, sort_keys=True) + "\n")
            with deterministic_algorithms(chosen):
                outcome = train_translation(plan, chosen, run_dir, data_root=data_root, progress=progress)
            stored = store.put(Record(key=plan.key, config=plan.config, metrics=outcome.metrics,
                                      provenance=outcome.provenance, arrays=outcome.arrays))
    return stored


@dataclass
class Translator:
    """A trained run's model with the very tokenizers it was trained with."""

    model: torch.nn.Module
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer
    settings: TranslationSettings

    def translate(self, sentences: list[str], *, beam_size: int | None = None, temperature: float = 1.0) -> list[str]:
        """Detokenised translations of raw source ``sentences``."""
        from lsbook.data.text import EOS_ID, pad_batch

        if not sentences:
            raise LsbookError("sentences must not be empty")
        device = next(self.model.parameters()).device
        src = pad_batch([self.source_tokenizer.encode(s) + [EOS_ID] for s in sentences]).to(device)
        ids = translate(self.model, [src], beam_size=beam_size or self.settings.beam_size,
                        length_penalty=self.settings.length_penalty, temperature=temperature,
                        max_len_a=self.settings.max_len_a, max_len_b=self.settings.max_len_b)
        return [self.target_tokenizer.decode(i) for i in ids]


def load_translator(record: Record, *, tokenizers: tuple[Tokenizer, Tokenizer] | None = None,
                    runs_root: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Translator:
    """The model of a finished run (from its final local checkpoint) with matching tokenizers.

    ``tokenizers`` (source, target) default to those saved beside the checkpoint; tokenizers that
    are not the ones the model was trained with (fingerprints) are refused with LsbookError.
    """
    run_dir = (Path(runs_root) if runs_root is not None else default_runs_root()) / record.key
    settings = TranslationSettings(**{k: (tuple(v) if isinstance(v, list) else v)
                                      for k, v in record.config["translation"].items()})
    checkpoint = read_checkpoint(run_dir / "checkpoint.pt", record.key)
    recipe = record.recipe
    if checkpoint is None or checkpoint["epoch"] != recipe.epochs:
        raise LsbookError(f"run {record.key} has no finished checkpoint in {run_dir}; its weights are kept "
                          "only where it was trained (rerun it there, or train it here)")
    if tokenizers is None:
        tokenizers = load_tokenizers(run_dir, settings.source, settings.target)
    expected = {role: record.metrics["tokenizers"][role]["fingerprint"] for role in ("source", "target")}
    check_fingerprints(expected, *tokenizers, where=f"run {record.key}")
    from lsbook.models import build

    model = build("transformer", tokenizers[1].vocab_size, src_vocab=tokenizers[0].vocab_size, pad_id=PAD_ID,
                  **recipe.model_kwargs)
    model.load_state_dict(checkpoint["model"])
    return Translator(model.to(device).eval(), tokenizers[0], tokenizers[1], settings)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (one trainer per run; released when the process dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _log(enabled: bool, message: str) -> None:
    if enabled:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
