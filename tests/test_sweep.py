"""lsbook.sweep: a grid trained here, several runs at once, teachers before their students."""

from __future__ import annotations

import pytest

from lsbook.errors import LsbookError
from lsbook.store import Store
from lsbook.sweep import distillation_grid, expand_grid, run_locally, threads_per_job

TINY = {"epochs": 1, "train_subset": 256, "val_subset": 128, "test_subset": 128}


def test_threads_are_shared_among_jobs():
    assert threads_per_job(1, cores=16) == 16
    assert threads_per_job(2, cores=16) == 8 and threads_per_job(3, cores=16) == 5
    assert threads_per_job(4, cores=2) == 1  # never below one


def test_bad_jobs_is_one_line_and_trains_nothing(tmp_path, capsys, monkeypatch):
    from lsbook.cli import main

    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "results"))
    assert main(["sweep", "fcn-fmnist", "--alphas", "0", "--profile", "smoke", "--jobs", "0"]) == 2
    assert "jobs must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()
    with pytest.raises(LsbookError, match="jobs"):
        run_locally(expand_grid("fcn-fmnist", [0.0], [0], "smoke"), Store(tmp_path), jobs=-1)


@pytest.mark.slow
def test_two_jobs_train_a_distillation_grid_students_after_teachers(tmp_path):
    """Teacher and baseline train side by side; the student starts once its teacher is stored;
    each worker uses its share of the cores; a second sweep finds everything stored."""
    store = Store(tmp_path / "results")
    specs = distillation_grid("fcn-fmnist", [0.0], [0], "smoke", temperatures=[1.0], table4=False,
                              overrides=TINY, keep_teachers=False)
    assert len(specs) == 3  # teacher α=0, baseline α=0, student at T=1
    lines: list[str] = []
    outcome = run_locally(specs, store, jobs=2, runs_root=str(tmp_path / "runs"), report=lines.append)
    assert outcome.failed == [] and len(outcome.trained) == 3
    student = next(s for s in specs if s.teacher_key is not None)
    teacher = next(s for s in specs if s.key == student.teacher_key)
    assert lines.index(f"trained  {teacher.label()}: run {teacher.key}") < \
        lines.index(f"training {student.label()}: run {student.key}")
    records = [store.get(s.key) for s in specs]
    assert all(r is not None for r in records) and all(s.is_stored(store) for s in specs)
    assert {r.provenance["torch_threads"] for r in records} == {threads_per_job(2)}
    again = run_locally(specs, store, jobs=2, runs_root=str(tmp_path / "runs"), report=lines.append)
    assert len(again.stored) == 3 and not again.trained


@pytest.mark.slow
def test_a_failed_teacher_skips_its_students(tmp_path, monkeypatch):
    import lsbook.train as train

    def crash(*args, **kwargs):
        raise RuntimeError("teacher crashed")

    monkeypatch.setattr(train, "run_training", crash)
    specs = distillation_grid("fcn-fmnist", [0.0], [0], "smoke", temperatures=[1.0], table4=False,
                              figure=True, overrides=TINY, keep_teachers=False)
    outcome = run_locally(specs, Store(tmp_path / "results"), jobs=1, runs_root=str(tmp_path / "runs"),
                          report=lambda line: None)
    reasons = dict((s.label(), r) for s, r in outcome.failed)
    student = next(s for s in specs if s.teacher_key is not None)
    assert reasons[student.label()].startswith("its teacher failed") and not outcome.trained
