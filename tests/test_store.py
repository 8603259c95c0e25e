"""The results store: keys, round trips, damage detection, look-ups that leave arrays unread,
derived values and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from lsbook import ENGINE_VERSION
from lsbook.errors import StoreError
from lsbook.store import Record, Store, config_key


def make_record(alpha: float = 0.1, seed: int = 0, recipe: str = "fcn-fmnist", n: int = 50) -> Record:
    config = {"recipe": recipe, "profile": "smoke", "alpha": alpha, "seed": seed,
              "engine_version": ENGINE_VERSION, "teacher_key": None, "resolved_recipe": {"epochs": 2}}
    rng = np.random.default_rng(seed + int(alpha * 1000))
    arrays = {"test_logits": rng.normal(size=(n, 10)).astype(np.float32),
              "test_labels": rng.integers(0, 10, n), "head_weight": rng.normal(size=(10, 7)).astype(np.float32)}
    return Record(key=config_key(config), config=config, metrics={"test_accuracy": 0.5, "history": [{"epoch": 1}]},
                  provenance={"date": "today"}, arrays=arrays)


def test_key_is_canonical_and_depends_on_what_determines_the_run():
    a = {"alpha": 0.1, "seed": 0, "recipe": "x", "nested": {"b": 1, "a": [1, 2]}}
    b = {"nested": {"a": [1, 2], "b": 1}, "recipe": "x", "seed": 0, "alpha": 0.1}
    assert config_key(a) == config_key(b)
    assert config_key(a) != config_key({**a, "alpha": 0.05})
    assert config_key(a) != config_key({**a, "seed": 1})
    assert len(config_key(a)) == 16


def test_put_get_round_trip(tmp_path):
    store, record = Store(tmp_path), make_record()
    assert store.get(record.key) is None
    stored = store.put(record)
    assert stored.path == tmp_path / "fcn-fmnist" / "smoke" / record.key
    again = Store(tmp_path).get(record.key)
    assert again.config == record.config and again.metrics == record.metrics
    assert set(again.arrays) == set(record.arrays)
    for name, value in record.arrays.items():
        assert again.arrays[name].dtype == value.dtype
        np.testing.assert_array_equal(again.arrays[name], value)
    assert not list((tmp_path / ".tmp").iterdir())
    assert [r.key for r in store.find(recipe="fcn-fmnist", alpha=0.1)] == [record.key]
    assert store.find(alpha=0.2) == []


def test_put_rejects_a_key_that_is_not_the_config_hash(tmp_path):
    record = make_record()
    record.key = "0" * 16
    with pytest.raises(StoreError, match="key"):
        Store(tmp_path).put(record)


def _damage(folder: Path, how: str) -> None:
    if how == "bad json":
        (folder / "record.json").write_text("{not json")
    elif how == "no arrays":
        (folder / "arrays.npz").unlink()
    elif how == "altered arrays":
        data = bytearray((folder / "arrays.npz").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (folder / "arrays.npz").write_bytes(bytes(data))
    elif how == "array missing":
        np.savez_compressed(folder / "arrays.npz", test_logits=np.zeros((2, 10), np.float32))
        data = json.loads((folder / "record.json").read_text())
        import hashlib
        data["arrays"]["sha256"] = hashlib.sha256((folder / "arrays.npz").read_bytes()).hexdigest()
        (folder / "record.json").write_text(json.dumps(data))
    elif how == "other engine version":
        data = json.loads((folder / "record.json").read_text())
        data["config"]["engine_version"] = ENGINE_VERSION + 1
        (folder / "record.json").write_text(json.dumps(data))
    elif how == "edited config":
        data = json.loads((folder / "record.json").read_text())
        data["config"]["alpha"] = 0.3
        (folder / "record.json").write_text(json.dumps(data))


@pytest.mark.parametrize("how", ["bad json", "no arrays", "other engine version", "edited config"])
def test_damaged_records_are_reported_with_their_path(tmp_path, how):
    store, good, bad = Store(tmp_path), make_record(0.0), make_record(0.1)
    store.put(good)
    folder = store.put(bad).path
    _damage(folder, how)
    with pytest.raises(StoreError) as error:
        store.get(bad.key)
    assert str(folder) in str(error.value)
    with pytest.raises(StoreError):
        store.records()
    with pytest.raises(StoreError):
        store.find(alpha=0.0)
    records, problems = store.scan()
    assert [r.key for r in records] == [good.key]
    assert [p for p, _ in problems] == [folder]


@pytest.mark.parametrize("how", ["altered arrays", "array missing"])
def test_damaged_arrays_are_detected_when_they_are_read(tmp_path, how):
    store, good, bad = Store(tmp_path), make_record(0.0), make_record(0.1)
    store.put(good)
    folder = store.put(bad).path
    _damage(folder, how)
    found = Store(tmp_path).get(bad.key)  # finding reads record.json only
    assert found.config == bad.config and set(found.arrays) == set(bad.arrays)
    with pytest.raises(StoreError) as error:
        found.arrays["head_weight"]
    assert str(folder) in str(error.value)
    with pytest.raises(StoreError):
        Store(tmp_path).get(bad.key, bad.config).arrays["test_logits"]
    records, problems = Store(tmp_path).scan(check_arrays=True)
    assert [r.key for r in records] == [good.key] and [p for p, _ in problems] == [folder]
    assert len(Store(tmp_path).scan()[0]) == 2


def test_arrays_damaged_after_a_record_was_read_are_detected(tmp_path):
    store, record = Store(tmp_path), make_record()
    folder = store.put(record).path
    found = store.get(record.key)
    _damage(folder, "altered arrays")
    with pytest.raises(StoreError, match="sha256"):
        found.arrays["test_logits"]


def _count_array_opens(monkeypatch) -> list[str]:
    """Every opening of an arrays.npz file from now on (numpy and hashing open files with open())."""
    import builtins

    opened, real_open = [], builtins.open

    def counting_open(file, *args, **kwargs):
        if str(file).endswith("arrays.npz"):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting_open)
    return opened


def test_finding_records_does_not_open_their_arrays(tmp_path, monkeypatch):
    records = [make_record(a, s) for a in (0.0, 0.1) for s in (0, 1)]
    for record in records:
        Store(tmp_path).put(record)
    opened = _count_array_opens(monkeypatch)
    store = Store(tmp_path)
    assert store.get(records[0].key).key == records[0].key
    assert store.get(records[1].key, records[1].config).key == records[1].key
    assert len(store.find(recipe="fcn-fmnist", alpha=0.1)) == 2
    assert len(store.records()) == 4 and len(store.scan()[0]) == 4
    assert opened == []
    np.testing.assert_array_equal(store.get(records[0].key).arrays["test_logits"], records[0].arrays["test_logits"])
    assert opened and all(path.startswith(str(store.get(records[0].key).path)) for path in opened)


def test_a_store_reads_a_record_json_once_and_again_when_it_changes(tmp_path, monkeypatch):
    import lsbook.store as store_module

    record = make_record()
    Store(tmp_path).put(record)
    store, reads = Store(tmp_path), []
    real_read = store_module._read_record
    monkeypatch.setattr(store_module, "_read_record", lambda folder: reads.append(folder) or real_read(folder))
    first = store.get(record.key)
    assert store.get(record.key) is first and store.find(alpha=0.1) == [first] and len(reads) == 1
    _damage(first.path, "bad json")
    with pytest.raises(StoreError, match="not valid JSON"):
        store.get(record.key)
    assert store.put(record).metrics == record.metrics  # replaces the damaged record
    assert store.get(record.key) is not first and len(reads) >= 3


def test_find_by_recipe_or_profile_reads_only_that_folder(tmp_path):
    store = Store(tmp_path)
    store.put(make_record(0.1, recipe="fcn-fmnist"))
    other = store.put(make_record(0.1, recipe="fcn-mnist"))
    _damage(other.path, "bad json")
    assert [r.config["recipe"] for r in store.find(recipe="fcn-fmnist")] == ["fcn-fmnist"]
    assert [r.config["recipe"] for r in store.find(recipe="fcn-fmnist", profile="smoke")] == ["fcn-fmnist"]
    with pytest.raises(StoreError, match="fcn-mnist"):
        store.find(profile="smoke")


def test_a_record_in_the_wrong_folder_is_refused(tmp_path):
    store, record = Store(tmp_path), make_record()
    folder = store.put(record).path
    moved = tmp_path / "fcn-mnist" / "smoke" / record.key
    moved.parent.mkdir(parents=True)
    folder.rename(moved)
    with pytest.raises(StoreError, match="misplaced"):
        store.get(record.key)


def test_derived_values_are_kept_beside_their_record_and_are_no_record(tmp_path):
    store, record = Store(tmp_path), make_record()
    stored = store.put(record)
    assert store.derived(stored, "smoothness-T2.0") is None
    store.put_derived(stored, "smoothness-T2.0", {"gamma": 0.25, "examples": 50})
    assert Store(tmp_path).derived(stored, "smoothness-T2.0") == {"gamma": 0.25, "examples": 50}
    store.put_derived(stored, "smoothness-T2.0", {"gamma": 0.5})
    assert store.derived(stored, "smoothness-T2.0") == {"gamma": 0.5}
    assert [r.key for r in store.records()] == [record.key]
    assert not [p for p in (stored.path / "derived").iterdir() if p.name.startswith(".")]
    with pytest.raises(StoreError, match="name"):
        store.put_derived(stored, "../escape", {})
    with pytest.raises(StoreError, match="not stored yet"):
        store.derived(make_record(0.3), "smoothness-T2.0")
    (stored.path / "derived" / "smoothness-T2.0.json").write_text("{oops")
    with pytest.raises(StoreError, match="smoothness-T2.0.json"):
        store.derived(stored, "smoothness-T2.0")


def test_put_replaces_a_damaged_record_of_the_same_key(tmp_path):
    store, record = Store(tmp_path), make_record()
    _damage(store.put(record).path, "bad json")
    assert store.put(record).metrics == record.metrics


def _writer(root: str, worker: int) -> None:
    store = Store(root)
    for i in range(6):
        store.put(make_record(alpha=0.1, seed=0))          # every worker writes this one key
        store.put(make_record(alpha=0.2, seed=worker * 10 + i))  # and keys of its own


@pytest.mark.slow
def test_concurrent_writers_corrupt_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    records, problems = Store(tmp_path).scan()
    assert problems == []
    assert len(records) == 1 + 3 * 6
    shared = Store(tmp_path).get(make_record(alpha=0.1, seed=0).key)
    np.testing.assert_array_equal(shared.arrays["test_logits"], make_record(0.1, 0).arrays["test_logits"])
    assert not list((tmp_path / ".tmp").iterdir())


def _translation_record(tokenizers) -> Record:
    """A tiny transformer-multi30k record (smoke profile) whose run used these tokenizer sizes."""
    from lsbook.run_config import RunConfig

    plan = RunConfig.of("transformer-multi30k", 0.1, 0, "smoke")
    metrics = {"test_bleu": 1.0, "history": []}
    if tokenizers is not None:
        metrics["tokenizers"] = tokenizers
    return Record(key=plan.key, config=plan.as_dict(), metrics=metrics, provenance={"date": "today"},
                  arrays={"temperatures": np.array([1.0])})


def test_load_model_rebuilds_a_transformer_with_the_runs_vocabularies(tmp_path):
    import torch

    from lsbook.data.text import PAD_ID
    from lsbook.models import build
    from lsbook.train import load_model

    # the learnt vocabularies (37 en, 41 de) differ from the requested size in the config (num_classes)
    tokenizers = {"source": {"language": "en", "fingerprint": "a", "vocab_size": 37},
                  "target": {"language": "de", "fingerprint": "b", "vocab_size": 41}}
    store, record = Store(tmp_path), _translation_record(tokenizers)
    assert record.config["num_classes"] not in (37, 41)
    torch.manual_seed(0)
    model = build("transformer", 41, src_vocab=37, pad_id=PAD_ID, **record.recipe.model_kwargs).eval()
    stored = store.put_model(store.put(record), model.state_dict())
    loaded = load_model(stored)
    assert not loaded.training
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)
    src, tgt = torch.tensor([[5, 6, 7, 2]]), torch.tensor([[1, 8, 9]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(src, tgt), model(src, tgt))
    assert loaded(src, tgt).shape[-1] == 41


def test_load_model_of_a_transformer_record_without_vocab_sizes_says_what_is_missing(tmp_path):
    import torch

    from lsbook.train import load_model

    store = Store(tmp_path)
    stored = store.put(_translation_record(None))
    store.put_model(stored, {"w": torch.zeros(1)})
    with pytest.raises(StoreError, match=r"tokenizers.*source.*vocab_size"):
        load_model(store.get(stored.key))


def test_provenance_keeps_the_commit_taken_when_the_run_started(monkeypatch):
    """A commit made while a long run trains must not be recorded as the code that produced it."""
    import lsbook.provenance as store_module

    store_module.code_version.cache_clear()
    head = {"rev-parse": "a" * 40, "status": ""}
    monkeypatch.setattr(store_module, "_git", lambda *args: head[args[0]])
    store_module.code_version()  # the run starts
    head["rev-parse"], head["status"] = "b" * 40, " M lsbook/train.py"  # someone commits meanwhile
    recorded = store_module.provenance("cpu", 1.0)
    store_module.code_version.cache_clear()
    assert recorded["git_commit"] == "a" * 40
    assert recorded["git_dirty"] is False


def test_provenance_records_the_cpu_capability_that_fixes_the_bits(monkeypatch):
    """AVX2 and AVX-512 kernels sum in different orders: a record says which ones made it."""
    import torch

    import lsbook.provenance as provenance_module

    monkeypatch.delenv("MKL_ENABLE_INSTRUCTIONS", raising=False)
    recorded = provenance_module.provenance("cpu", 1.0)
    assert recorded["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert "mkl_enable_instructions" not in recorded
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    assert provenance_module.provenance("cpu", 1.0)["mkl_enable_instructions"] == "AVX2"
