"""Tests of lsbook.experiments: the distillation grid, stored γ, and the mutual-information curve.

The end-to-end tests train at the ``smoke`` profile with its sizes shrunk further (a few
hundred examples, one epoch), into a temporary store and checkpoint folder.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import lsbook.profiles
from lsbook.book import distillation_report as report
from lsbook.distillation import smoothed_teacher_logits, smoothness_index
from lsbook.errors import LsbookError
from lsbook.experiments.distillation_grid import SETUPS, DistillationSetup, StudyRecords, expand_grid
from lsbook.experiments.mi_probe import ProbeConfig, ProbeSet, logit_differences, select_probe_set
from lsbook.experiments.mutual_info import MI_SETUPS, collect_curves, curve, ensure_curve, find_curve
from lsbook.experiments.smoothness import ensure_smoothness, find_smoothness, smoothness_name
from lsbook.profiles import resolve
from lsbook.recipes import RECIPES
from lsbook.store import Store
from lsbook.sweep import run_grid

REPO = Path(__file__).resolve().parents[1]

@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the tiny networks here gain nothing from more, and on a shared 2-core
    machine several threads per process wait on each other (3× slower under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_smoke(monkeypatch):
    """Smoke runs of 192 training examples, 1 epoch: a second or two each."""
    smoke = lsbook.profiles.PROFILE_TABLE["smoke"]
    caps = {**smoke.recipe_caps, "train_subset": 192, "val_subset": 64, "test_subset": 64, "epochs": 1,
            "batch_size": 64}
    monkeypatch.setitem(lsbook.profiles.PROFILE_TABLE, "smoke", dataclasses.replace(smoke, recipe_caps=caps))


# --- γ (Eq. 3) -----------------------------------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.45, 0.75])
def test_smoothness_of_a_teacher_that_outputs_smoothed_labels_is_alpha(alpha):
    labels = torch.tensor([0, 3, 9, 2, 2, 7])
    logits = smoothed_teacher_logits(labels, 10, alpha)
    assert smoothness_index(logits, labels, 1.0) == pytest.approx(alpha, abs=1e-6)


def test_smoothness_grows_with_temperature():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 10, generator=generator) * 4
    labels = logits.argmax(1)
    gammas = [smoothness_index(logits, labels, t) for t in (1, 2, 4, 8, 16)]
    assert all(a < b for a, b in zip(gammas, gammas[1:]))
    assert gammas[-1] < 1.0 + 1e-9


# --- The grid ------------------------------------------------------------------------------------

def test_grid_of_the_fcn_study_has_the_right_size():
    setup = SETUPS["fcn-mnist"]
    specs = expand_grid(setup, [0], "paper")
    # 6 teachers + α=0.1 teacher + dropout teacher, 6 baselines, 6 (M3) + 6 (M4) − 1 shared
    # distilled students, 2 Table 4 students.
    assert len(specs) == 8 + 6 + 11 + 2 == 27
    assert len({s.key for s in specs}) == len(specs)
    recipes = [(s.recipe.name, s.distillation is not None) for s in specs]
    assert recipes.count(("fcn-mnist", False)) == 7 and recipes.count(("fcn-mnist-dropout", False)) == 1
    assert recipes.count(("fcn-mnist-student", False)) == 6 and recipes.count(("fcn-mnist-student", True)) == 13
    assert len(expand_grid(setup, [0, 1, 2], "paper")) == 3 * 27
    assert len(expand_grid(setup, [0], "paper", table4=False)) == 6 + 6 + 11
    assert len(expand_grid(setup, [0], "paper", figure=False)) == 4


def test_grid_of_the_cifar_study_uses_the_original_temperatures():
    setup = SETUPS["resnet56-alexnet-cifar10"]
    specs = expand_grid(setup, [0], "smoke")
    assert len(specs) == 6 + 6 + (7 + 6 - 1)  # no Table 4 for CIFAR-10
    assert setup.distill_loss == "original" and setup.beta == 1.0
    students = [s.distillation for s in specs if s.distillation and s.distillation.teacher_key == specs[0].key]
    assert sorted(d.temperature for d in students) == [1, 2, 3, 4, 8, 12, 16]
    assert {(d.loss, d.beta) for d in students} == {("original", 1.0)}


def test_reduced_grid_and_teachers_precede_students():
    setup = SETUPS["fcn-fmnist"].reduced(alphas=[0, 0.3], temperatures=[1, 4])
    specs = expand_grid(setup, [0], "cpu")
    assert len(specs) == 2 + 1 + 1 + 2 + (2 + 2 - 1) + 2
    first_student = min(i for i, s in enumerate(specs) if s.distillation is not None)
    assert all(s.distillation is None for s in specs[:first_student])
    assert all(s.distillation is not None for s in specs[first_student:])


def test_bad_setups_are_refused():
    with pytest.raises(LsbookError, match="alphas must include 0"):
        SETUPS["fcn-fmnist"].reduced(alphas=[0.1, 0.3])
    with pytest.raises(LsbookError, match="temperatures must include 1"):
        SETUPS["fcn-fmnist"].reduced(temperatures=[2, 4])
    with pytest.raises(LsbookError, match="recipe"):
        DistillationSetup("x", "x", "no-such-recipe", "fcn-fmnist-student", None, "replication", 0.6)
    with pytest.raises(LsbookError, match="alpha"):
        SETUPS["fcn-fmnist"].reduced(alphas=[0, 1.5])
    with pytest.raises(LsbookError, match="seeds"):
        expand_grid(SETUPS["fcn-fmnist"], [], "cpu")


def test_fashion_mnist_pair_is_the_mnist_pair_on_other_data():
    """fcn-fmnist-dropout/-student are recipes like any other, equal to the MNIST pair but for
    their name and dataset, at every profile (so they train for as long as the MNIST pair)."""
    for name in ("dropout", "student"):
        for profile in ("smoke", "cpu", "paper"):
            fashion, mnist = resolve(f"fcn-fmnist-{name}", profile), resolve(f"fcn-mnist-{name}", profile)
            assert fashion.name == f"fcn-fmnist-{name}" and fashion.dataset == "fashion-mnist"
            changed = {f.name for f in dataclasses.fields(fashion) if getattr(fashion, f.name) != getattr(mnist, f.name)}
            assert changed <= {"name", "dataset", "synthetic_data"}, changed
    assert RECIPES["fcn-fmnist-student"].model_kwargs["hidden"] == 800 and not RECIPES["fcn-fmnist-student"].augment
    assert RECIPES["fcn-fmnist-dropout"].model_kwargs["dropout"] == 0.5
    with pytest.raises(LsbookError, match="unknown recipe"):
        resolve("fcn-nothing", "cpu")


# --- End to end: teachers, students, γ records ------------------------------------------------------

@pytest.mark.slow
def test_smoke_distillation_grid_end_to_end(tmp_path, tiny_smoke):
    store, runs = Store(tmp_path / "results"), tmp_path / "runs"
    setup = SETUPS["fcn-fmnist"].reduced(alphas=[0.0, 0.45], temperatures=[1.0, 4.0])
    outcome = run_grid(setup, "smoke", [0], store=store, runs_root=runs, progress=False, table4=False)
    assert outcome["failed"] == [] and outcome["done"] == 2 + 2 + 3

    runner = StudyRecords(store)
    teachers = [runner.record(setup.teacher(a, 0, "smoke")) for a in setup.alphas]
    # Teachers of different α are different runs, and both survive in the store.
    assert teachers[0].key != teachers[1].key
    stored_keys = {r.key for r in store.find(recipe="fcn-fmnist", profile="smoke")}
    assert {t.key for t in teachers} <= stored_keys
    assert [t.config["alpha"] for t in teachers] == [0.0, 0.45]

    students = [r for r in store.find(recipe="fcn-fmnist-student", profile="smoke") if r.config["teacher_key"]]
    assert len(students) == 3
    by_teacher = {}
    for student in students:
        assert student.config["distill"]["loss"] == "replication"
        assert student.config["distill"]["beta"] == 0.6
        by_teacher.setdefault(student.config["teacher_key"], []).append(student.config["distill"]["temperature"])
    assert sorted(by_teacher[teachers[0].key]) == [1.0, 4.0] and by_teacher[teachers[1].key] == [1.0]

    # γ is kept beside its teacher per T (not as a run) and equals Eq. 3 on the teacher's training logits.
    from lsbook.evaluation import predict_logits
    from lsbook.run_data import load_run_data
    from lsbook.train import load_teacher

    model = load_teacher(teachers[0], torch.device("cpu"), runs)
    data = load_run_data(teachers[0].recipe, torch.device("cpu"))
    logits = predict_logits(model, data.train[0], data.transforms, 256)
    for temperature in (1.0, 4.0):
        assert find_smoothness(teachers[0], temperature, store) == pytest.approx(
            smoothness_index(logits, data.train[1], temperature), rel=1e-6)
    assert store.derived(teachers[1], smoothness_name(1.0))["examples"] == len(data.train[1])
    assert store.derived(teachers[1], smoothness_name(4.0)) is None

    points = report.figure_points(setup, "smoke", [0], store=store)
    assert [p.gamma.mean for p in points["M1"]] == [0.0, 0.45]
    assert [p.accuracy.n for c in points.values() for p in c] == [1] * 8
    assert points["M3"][0].keys == points["M4"][0].keys  # M3 at T=1 is M4 at α=0
    assert points["M3"][1].gamma.mean > points["M3"][0].gamma.mean  # higher T, smoother teacher
    assert set(report.plot_curves(points)) == set(report.CURVE_LABELS.values())

    # A rerun finds everything stored and trains nothing: 7 runs (γ is no run).
    assert len(store.records()) == 2 + 2 + 3
    again = run_grid(setup, "smoke", [0], store=store, runs_root=runs, progress=False, table4=False)
    assert again["failed"] == [] and len(store.records()) == 7

    # Weights lost (a fresh clone): γ at a new T retrains the teacher, which comes back identical.
    shutil.rmtree(runs)
    gamma = ensure_smoothness(teachers[1], [2.0], store=store, runs_root=tmp_path / "fresh")[2.0]
    assert 0.0 < gamma < 1.0
    assert store.get(teachers[1].key).has_model


@pytest.mark.slow
def test_table4_from_a_smoke_run(tmp_path, tiny_smoke):
    store, runs = Store(tmp_path / "results"), tmp_path / "runs"
    setup = SETUPS["fcn-fmnist"]
    missing = report.table4_summaries(setup, "smoke", [0], store=store)
    assert all(s.n == 0 and s.text() == "missing" for s in missing.values())
    outcome = run_grid(setup, "smoke", [0], store=store, runs_root=runs, progress=False, figure=False)
    assert outcome["failed"] == [] and outcome["done"] == 4
    table = report.table4_summaries(setup, "smoke", [0], store=store)
    assert list(table) == list(report.TABLE4_ROWS)
    assert all(s.n == 1 and 0.0 <= s.mean <= 1.0 for s in table.values())
    dropout = store.find(recipe="fcn-fmnist-dropout")[0]
    assert dropout.recipe.model_kwargs["dropout"] == 0.5 and dropout.config["alpha"] == 0.0


# --- Mutual information -------------------------------------------------------------------------------

def test_probe_set_picks_the_two_classes_deterministically():
    labels = torch.arange(40) % 4
    images = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 1, 4, 4).contiguous()
    config = ProbeConfig(classes=("c2", "c0"), per_class=5, draws=2)
    probe = select_probe_set(images, labels, ["c0", "c1", "c2", "c3"], config)
    assert probe.class_indices == (2, 0)
    assert probe.labels.tolist() == [2] * 5 + [0] * 5
    again = select_probe_set(images, labels, ["c0", "c1", "c2", "c3"], config)
    assert torch.equal(probe.images, again.images)
    with pytest.raises(LsbookError, match="per_class"):
        select_probe_set(images, labels, ["c0", "c1", "c2", "c3"], ProbeConfig(("c0", "c1"), per_class=11))
    with pytest.raises(LsbookError, match="not in this dataset"):
        select_probe_set(images, labels, ["c0", "c1", "c2", "c3"], ProbeConfig(("c0", "dog")))
    with pytest.raises(LsbookError, match="two different"):
        ProbeConfig(("c0", "c0"))


class _Difference(torch.nn.Module):
    """A "network" whose logit difference is the mean pixel plus a per-image offset."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        z = x.flatten(1).mean(1, keepdim=True) * self.scale
        return torch.cat([z, torch.zeros_like(z)], dim=1)


def test_logit_differences_shape_determinism_and_mode():
    probe = ProbeSet(images=torch.randint(0, 255, (6, 1, 5, 5), dtype=torch.uint8,
                                          generator=torch.Generator().manual_seed(1)),
                     labels=torch.tensor([0, 0, 0, 1, 1, 1]), class_indices=(0, 1))

    def noisy(batch, generator):  # an "augmentation" with the generator's randomness
        return batch.float() / 255 + torch.rand(batch.shape[0], 1, 1, 1, generator=generator)

    model = _Difference().train()
    y = logit_differences(model, probe, noisy, draws=4, seed=3)
    assert y.shape == (6, 4) and model.training
    assert np.array_equal(y, logit_differences(model, probe, noisy, draws=4, seed=3))
    assert not np.array_equal(y, logit_differences(model, probe, noisy, draws=4, seed=4))
    assert not np.allclose(y[:, 0], y[:, 1])


@pytest.mark.slow
def test_smoke_mutual_information_curve_is_stored_with_the_run(tmp_path, tiny_smoke):
    store, runs = Store(tmp_path / "results"), tmp_path / "runs"
    setup = MI_SETUPS["fcn-fmnist"]
    record = ensure_curve(setup, 0.1, 0, "smoke", store=store, runs_root=runs, progress=False)
    steps, values = curve(record)
    total = record.metrics["steps"]
    assert steps.tolist() == list(range(0, total + 1, setup.every_steps("smoke")))
    assert np.all(values >= 0) and np.all(values <= math.log(setup.num_examples("smoke")) + 1e-12)
    assert record.config["step_callback"] == setup.callback_name("smoke")
    assert "T-shirt/top|Sandal" in record.config["step_callback"]

    # The probe does not change the trajectory: the same run without it ends identically.
    from lsbook.train import ensure_run

    from lsbook.run_config import RunConfig

    plain = ensure_run(RunConfig.of(setup.recipe_for("smoke"), 0.1, 0, "smoke"), store=store, runs_root=runs,
                       progress=False)
    assert plain.key != record.key
    np.testing.assert_array_equal(plain.arrays["test_logits"], record.arrays["test_logits"])

    assert find_curve(setup, 0.1, 0, "smoke", store).key == record.key
    assert find_curve(setup, 0.0, 0, "smoke", store) is None
    curves = collect_curves(setup, "smoke", [0], store=store)
    assert curves.missing == [(0.0, 0)]
    assert curves.values[0.1].shape == (1, len(steps))
    assert curves.log_n == pytest.approx(math.log(2 * 16))


# --- The sentences of the chapters ------------------------------------------------------------------

def test_table4_markdown_sets_ours_beside_both_papers():
    from lsbook.book.distillation_report import table4_markdown
    from lsbook.book.tables import Summary

    ours = {"teacher without LS": Summary([0.0067]), "teacher with LS": Summary([0.0059, 0.0061]),
            "student without LS": Summary([0.0074]), "student with LS": Summary([])}
    table = table4_markdown(ours, "fashion-mnist, cpu")
    assert "| teacher with LS | 0.60 ± 0.01 | 0.69 | 0.59 |" in table
    assert "ours: fashion-mnist, cpu [%]" in table and "| student with LS | missing |" in table


def test_shown_studies_put_the_stored_mnist_paper_study_first(tmp_path):
    """The replication's MNIST study at `paper` leads wherever its runs are stored and the page reads
    `paper` runs; the page's own study follows as a variant, or stands alone."""
    from lsbook.book.distillation_report import shown_studies, stored_text

    committed, empty = Store(REPO / "results"), Store(tmp_path / "empty")
    fmnist, mnist = SETUPS["fcn-fmnist"], SETUPS["fcn-mnist"]
    for part in ("table4", "figure"):
        shown = shown_studies(fmnist, "cpu", [0], part=part, store=committed)
        assert [(s.setup.name, s.profile, s.role) for s in shown] == [
            ("fcn-mnist", "paper", "the main result"), ("fcn-fmnist", "cpu", "the `cpu` variant")]
        assert [(s.setup.name, s.role) for s in shown_studies(mnist, "paper", [0], part=part, store=committed)] \
            == [("fcn-mnist", "")]
        assert [s.setup.name for s in shown_studies(fmnist, "cpu", [0], part=part, store=empty)] == ["fcn-fmnist"]
        assert [s.setup.name for s in shown_studies(fmnist, "smoke", [0], part=part, store=committed)] \
            == ["fcn-fmnist"]  # smoke pages never mix in other profiles
        assert shown_studies(None, "cpu", [0], part=part, store=empty) == []
    with pytest.raises(ValueError, match="part"):
        shown_studies(fmnist, "cpu", [0], part="table3", store=empty)
    teachers_only = tmp_path / "teachers"  # Table 2's teachers are Figure 7's M1, but not yet a figure
    shutil.copytree(REPO / "results/fcn-mnist/paper/91cee36a8df9622d", teachers_only / "fcn-mnist/paper/91cee36a8df9622d")
    assert [s.setup.name for s in shown_studies(fmnist, "cpu", [0], part="figure", store=Store(teachers_only))] \
        == ["fcn-fmnist"]
    assert shown_studies(fmnist, "cpu", [0], part="table4", store=committed)[0].seeds == (0, 1, 2)
    assert stored_text(mnist, "paper", store=empty) == "Table 4: no runs stored; Figure 7: no runs stored"
    assert stored_text(mnist, "paper", store=committed).startswith("Table 4: 4 of 4 runs for seeds 0, 1, 2; Figure 7: ")


def test_mi_verdict_describes_rise_and_fall():
    from lsbook.book.mutual_information_report import mi_verdict
    from lsbook.experiments.mutual_info import MICurves

    steps = np.arange(0, 50, 10)
    falling = np.array([[0.2, 2.0, 1.5, 1.0, 0.75]])
    flat = np.array([[0.2, 2.0, 2.0, 1.99, 1.98]])
    curves = MICurves(steps, {0.0: flat, 0.1: falling}, {0.0: [0], 0.1: [0]},
                      {0.0: [0.9], 0.1: [0.9]}, num_examples=600, missing=[])
    text = mi_verdict(curves)
    assert "With α = 0 the estimate rises from 0.200 nats at initialisation to 90 % of its peak by step 10" in text
    assert "With α = 0.1 the estimate rises from 0.200 nats at initialisation to 2.000 at step 10 and then falls by 1.250" in text
    assert "ends below the level of two collapsed clusters as this estimator reads it (0.804 nats at N = 600, L = 5" in text
    assert "With α = 0 the estimate" in text and "it ends above the level" in text
    # M10: the two ends side by side, no direction read into them; the ledger's verdict follows
    assert "At the end of training the estimate is 0.750 nats with α = 0.1 and 1.980 nats with α = 0" in text
    assert "keeps" not in text and text.endswith("for the claim ledger to say, not the two numbers.")
    assert mi_verdict(curves, "*MI lower* — **inconclusive**.").endswith("not the two numbers: *MI lower* — **inconclusive**.")


def test_command_line_refuses_bad_input(capsys, tmp_path):
    from lsbook.cli import main

    assert main(["distill", "no-such-setup", "--results", str(tmp_path)]) == 2
    assert "unknown distillation setup 'no-such-setup'" in capsys.readouterr().err
    assert main(["distill", "fcn-fmnist", "--alphas", "0.2", "--results", str(tmp_path)]) == 2
    assert "alphas must include 0" in capsys.readouterr().err
    assert main(["mutual-info", "fcn-fmnist", "--alphas", "1.5", "--results", str(tmp_path)]) == 2
    assert "alpha must be in [0, 1)" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was stored
