"""The claim table as data: every claim family measured by id on one store of fabricated runs, the
rows it yields, the ledger computed once per store, and the new rows' directions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsbook import claims
from lsbook.claims import CLAIMS, CONFIRMED, CONTRADICTED, NOT_RUN, ledger
from lsbook.claims.measures import MEASURES, subjects
from lsbook.errors import LsbookError
from lsbook.experiments.distillation_grid import SETUPS
from lsbook.experiments.mutual_info import MI_SETUPS
from lsbook.experiments.smoothness import smoothness_name
from lsbook.run_config import RunConfig
from lsbook.store import Record, Store
from tests.test_claims import put_run, put_translation, put_variant_run

HERE = ("fashion-mnist", "mnist", "cifar10-jpeg", "multi30k")


@pytest.fixture
def data_here(monkeypatch):
    """This machine has the datasets the book trains on here, and nothing else."""
    import lsbook.data.roots as roots

    monkeypatch.setattr(roots, "locate", lambda name, root=None: Path("/data") if name in HERE else None)


def put_student(store: Store, setup, teacher: RunConfig, temperature: float, accuracy: float, gamma: float) -> None:
    """A fabricated distilled student of ``teacher`` at ``temperature``, and γ of its teacher there."""
    put_run(store, setup.student_recipe, 0.0, teacher.seed, accuracy=accuracy, profile=teacher.profile,
            teacher=teacher, distill_temperature=temperature, distill_loss=setup.distill_loss, beta=setup.beta)
    store.put_derived(store.get(teacher.key), smoothness_name(temperature), {"gamma": gamma})


def fill(store: Store) -> None:
    """Runs for every family of the claim table: three seeds of the paper profile wherever a family
    reads recipes of this machine's data, so every row it can measure gets a seed interval."""
    for seed in (0, 1, 2):
        for alpha, accuracy, sharpness, spread in ((0.0, 0.80, 3.0, 2.0), (0.05, 0.85, 6.0, 1.5),
                                                   (0.1, 0.90, 9.0, 0.5), (0.15, 0.88, 7.0, 0.8),
                                                   (0.3, 0.70, 12.0, 0.3)):
            for recipe in ("fcn-fmnist", "fcn-mnist", "fcn-fmnist-student", "fcn-mnist-student"):
                put_run(store, recipe, alpha, seed, accuracy=accuracy, sharpness=sharpness, spread=spread,
                        profile="paper")
        for alpha in (0.0, 0.1):
            put_run(store, "fcn-fmnist-full", alpha, seed, accuracy=0.91, profile="paper")
            put_run(store, "fcn-fmnist-noisy", alpha, seed, accuracy=0.80 + alpha, profile="paper")
        put_run(store, "fcn-fmnist-full-replication", 0.0, seed, accuracy=0.9101, profile="paper")
        for alpha, sharpness in ((0.0, 9.0), (0.05, 4.0), (0.1, 3.0)):
            put_variant_run(store, "resnet56-cifar10-jpeg", alpha, seed, accuracy=0.8, sharpness=sharpness)
        for alpha in (0.0, 0.1):
            put_variant_run(store, "alexnet-cifar10-jpeg", alpha, seed, accuracy=0.78, sharpness=9.0 - 40 * alpha)
        for alpha in (0.0, 0.1, 0.3):
            put_translation(store, "transformer-multi30k-small", alpha, seed, "paper", brevity=0.8 + alpha)
        for name in ("fcn-mnist", "fcn-fmnist"):                    # Table 4 and Figure 7
            setup = SETUPS[name]
            dropout = setup.dropout_teacher(seed, "paper")
            put_run(store, setup.dropout_teacher_recipe, 0.0, seed, accuracy=0.85, profile="paper")
            put_student(store, setup, dropout, 1.0, 0.86, 0.05)
            put_student(store, setup, setup.teacher(setup.table4_alpha, seed, "paper"), 1.0, 0.84, 0.1)
            for alpha in setup.alphas:
                teacher = setup.teacher(alpha, seed, "paper")
                if store.get(teacher.key) is None:
                    put_run(store, setup.teacher_recipe, alpha, seed, accuracy=0.9, profile="paper")
                    put_run(store, setup.student_recipe, alpha, seed, accuracy=0.8, profile="paper")
                for temperature in (setup.temperatures if alpha == 0 else (1.0,)):
                    put_student(store, setup, teacher, temperature, 0.95 - 0.1 * alpha, 0.01 * temperature + alpha)
        mi = MI_SETUPS["fcn-fmnist"]
        for alpha, end in ((0.0, 1.2), (0.1, 0.9)):
            config = mi.config(alpha, seed, "paper")
            store.put(Record(key=config.key, config=config.as_dict(), provenance={}, arrays={},
                             metrics={"test_accuracy": 0.8, "step_log": [{"step": s, "value": end + 0.01 * seed}
                                                                         for s in range(0, 80, 10)]}))
        study = SETUPS["fcn-mnist-temperatures"]
        for alpha in study.alphas:
            teacher = study.teacher(alpha, seed, "paper")
            for temperature in study.smoothed_temperatures:
                put_run(store, "fcn-mnist-student", 0.0, seed, accuracy=0.8 if alpha and temperature > 1 else 0.9,
                        profile="paper", teacher=teacher, distill_temperature=temperature,
                        distill_loss=study.distill_loss, beta=study.beta)


@pytest.fixture(scope="module")
def full_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("every-family"))
    fill(store)
    return store


def test_every_claim_family_is_measured_by_id(full_store, data_here):
    rows = ledger("cpu", store=full_store)
    by_family: dict[str, list] = {}
    for row in rows:
        by_family.setdefault(row.id.split("/")[0], []).append(row)
    assert set(by_family) == {c.id for c in CLAIMS}                  # every claim of the table has rows
    for claim in CLAIMS:
        measured = [r for r in by_family[claim.id] if r.verdict != NOT_RUN]
        assert measured, f"{claim.id}: no row measured on a store with its runs"
        for row in measured:
            assert row.profile == "paper" and row.estimate is not None and row.title == claim.title
            assert row.claimed == claim.direction.text(claim.unit) and row.chapter == claim.chapter
            assert "{" not in row.claim + row.metric + row.experiment, row.id   # every template filled


def test_directions_of_the_new_rows_follow_the_fabricated_runs(full_store, data_here):
    rows = {r.id: r for r in ledger("cpu", store=full_store)}
    assert rows["accuracy-falls/fcn-fmnist"].verdict == CONFIRMED          # 80 % -> 70 % at α = 0.3
    assert rows["accuracy-falls/fcn-fmnist"].estimate == pytest.approx(-10, abs=5)
    assert rows["kd-m1-rises/fcn-mnist"].verdict == CONFIRMED             # 80 % -> 88 % at α = 0.15
    assert rows["noise/fcn-fmnist-noisy"].verdict == CONFIRMED
    under = rows["underconfident/fcn-mnist"]
    assert under.estimate == pytest.approx(np.mean([
        full_store.find(recipe="fcn-mnist", alpha=0.1, seed=s, profile="paper")[0].metrics["val_temperature"]
        for s in (0, 1, 2)]) - 1)
    assert "not run" not in rows["tr-T-falls"].verdict and rows["tr-T-falls"].seeds == [0, 1, 2]
    assert rows["offset-replication/fcn-fmnist-full-replication"].interval == "t-interval over 3 seeds"
    # the variants of the calibrated networks: one row per fixed α, no α* among them
    assert {f"ts-beats-ls/resnet56-cifar10-jpeg/α={a:g}" for a in (0.05, 0.1)} <= set(rows)
    # temperature scaling wins on the FCNs here: their α = 0 runs are the sharpest fabricated
    assert rows["ts-beats-ls/fcn-fmnist"].verdict in (CONFIRMED, CONTRADICTED)


def test_a_claim_is_one_row_of_data(monkeypatch, full_store, data_here):
    """Adding a claim is one row of the table (a function only for a new kind of measurement)."""
    import dataclasses

    from lsbook.claims import table

    base = claims.claim("accuracy")
    extra = dataclasses.replace(base, id="accuracy-at-0.05", title="keeps accuracy at α = 0.05",
                                runs=dataclasses.replace(base.runs, subjects=("fcn-mnist",), alphas=(0.0, 0.05)))
    monkeypatch.setattr(table, "CLAIMS", (*table.CLAIMS, extra))
    monkeypatch.setattr("lsbook.claims.rows.CLAIMS", table.CLAIMS)
    row = next(r for r in claims.compute("cpu", store=full_store) if r.id == "accuracy-at-0.05/fcn-mnist")
    assert "α = 0.05" in row.claim and row.seeds == [0, 1, 2] and row.estimate > 0


def test_every_claim_names_a_measurement_a_chapter_and_subjects():
    ids = [c.id for c in CLAIMS]
    assert len(ids) == len(set(ids))
    for claim in CLAIMS:
        assert claim.measure in MEASURES and claim.chapter in claims.CHAPTERS and subjects(claim)
        assert claim.source and claim.statement and claim.metric
    with pytest.raises(LsbookError, match="claim must be one of"):
        claims.claim("accuracy-everywhere")
    with pytest.raises(LsbookError, match="chapter must be one of"):
        claims.Claim("x", "x", "preface", "s", "c", "a", "m", "", claims.Direction("increase"), "accuracy",
                     claims.Runs(("fcn-mnist",)))


def test_the_ledger_is_computed_once_per_store_and_again_when_a_run_lands(tmp_path, monkeypatch, data_here):
    from lsbook.claims import rows as module

    store = Store(tmp_path / "store")
    for alpha in (0.0, 0.1):
        put_run(store, "fcn-fmnist", alpha, 0, accuracy=0.8, profile="paper")
    computed = []
    original = module.compute
    monkeypatch.setattr(module, "compute", lambda *a, **k: computed.append(1) or original(*a, **k))
    first = ledger("cpu", store=store)
    again = ledger("cpu", store=store, chapters=["accuracy"])
    assert len(computed) == 1 and again == [r for r in first if r.chapter == "accuracy"]
    put_run(store, "fcn-fmnist", 0.0, 1, accuracy=0.8, profile="paper")   # a new run: computed again
    ledger("cpu", store=store)
    assert len(computed) == 2
    assert any(module.cache_folder().glob("cpu-*.json"))


def test_the_ledger_imports_nothing_from_the_book_layer():
    import ast

    package = Path(claims.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("lsbook.book"), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("lsbook.book") for a in node.names), path.name
