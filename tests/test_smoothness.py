"""γ kept beside its teacher: found without weights; every committed student finds its teacher's γ;
γ written the old way (as ``smoothness-index`` records) migrates beside the teachers to the same
values and the same figure tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from lsbook import ENGINE_VERSION
from lsbook.errors import LsbookError, StoreError
from lsbook.book import distillation_report as report
from lsbook.experiments.distillation_grid import SETUPS
from lsbook.experiments.smoothness import (LEGACY_RECIPE, find_smoothness, legacy_config, migrate_legacy_records,
                                           smoothness_name)
from lsbook.profiles import chapter_defaults
from lsbook.store import Record, Store, config_key

REPO = Path(__file__).resolve().parents[1]


def _teacher(alpha: float = 0.1) -> Record:
    config = {"recipe": "fcn-fmnist", "profile": "smoke", "alpha": alpha, "seed": 0, "dataset": "fashion-mnist",
              "engine_version": ENGINE_VERSION, "teacher_key": None, "resolved_recipe": {"epochs": 2}}
    return Record(key=config_key(config), config=config, metrics={"test_accuracy": 0.5}, provenance={},
                  arrays={"test_logits": np.zeros((3, 10), np.float32)})


def _legacy(teacher: Record, temperature: float, gamma: float) -> Record:
    config = legacy_config(teacher, temperature)
    return Record(key=config_key(config), config=config, metrics={"gamma": gamma, "examples": 55000},
                  provenance={"date": "then"}, arrays={})


def test_smoothness_names_are_file_names_per_temperature():
    assert smoothness_name(2) == "smoothness-T2.0" and smoothness_name(0.5) == "smoothness-T0.5"
    assert smoothness_name(1.0) != smoothness_name(1.0000001)
    with pytest.raises(LsbookError, match="temperature"):
        smoothness_name(0.0)


def test_legacy_records_are_migrated_beside_their_teachers(tmp_path):
    store = Store(tmp_path)
    teacher = store.put(_teacher())
    legacy = store.put(_legacy(teacher, 2.0, 0.375))
    assert find_smoothness(teacher, 2.0, store) is None  # a legacy record is not read: migrate it
    assert migrate_legacy_records(store, delete=True) == [legacy.path]
    assert not legacy.path.exists() and store.folders(LEGACY_RECIPE) == []
    kept = Store(tmp_path).derived(teacher, smoothness_name(2.0))
    assert kept == {"gamma": 0.375, "temperature": 2.0, "split": "train", "examples": 55000,
                    "provenance": {"date": "then"}}
    assert find_smoothness(teacher, 2.0, Store(tmp_path)) == 0.375
    assert migrate_legacy_records(store) == []  # nothing left: running it again changes nothing


def test_migration_refuses_a_legacy_record_whose_teacher_is_missing(tmp_path):
    store, teacher = Store(tmp_path), _teacher()
    legacy = store.put(_legacy(teacher, 1.0, 0.5))
    with pytest.raises(StoreError, match=teacher.key):
        migrate_legacy_records(store)
    assert legacy.path.exists()


def _committed_gammas(store: Store) -> list[tuple[Record, float, float]]:
    """(teacher, T, γ) of every γ kept beside a teacher in ``store``."""
    found = []
    for teacher in store.records():
        folder = teacher.path / "derived"
        for path in sorted(folder.glob("smoothness-T*.json")) if folder.is_dir() else []:
            values = store.derived(teacher, path.stem)
            found.append((teacher, values["temperature"], values["gamma"]))
    return found


def test_every_committed_student_finds_its_teachers_gamma():
    """Every distilled student in results/ finds γ of its teacher at its temperature, in (0, 1]."""
    store = Store(REPO / "results")
    students = [r for r in store.records() if r.config.get("teacher_key")]
    assert students
    for student in students:
        teacher = store.get(student.config["teacher_key"])
        assert teacher is not None, student.key
        gamma = find_smoothness(teacher, student.config["distill"]["temperature"], store)
        assert gamma is not None and 0.0 < gamma <= 1.0, student.key
    assert {(t.key, temperature) for t, temperature, _ in _committed_gammas(store)} >= {
        (s.config["teacher_key"], s.config["distill"]["temperature"]) for s in students}


def _copy_without_arrays(source: Path, target: Path) -> None:
    """The store at ``source`` with its record.json and derived files copied and arrays.npz linked."""
    for record_file in source.glob("*/*/*/record.json"):
        folder = target / record_file.parent.relative_to(source)
        folder.mkdir(parents=True)
        shutil.copy(record_file, folder / "record.json")
        (folder / "arrays.npz").symlink_to(record_file.parent / "arrays.npz")
        if (record_file.parent / "derived").is_dir():
            shutil.copytree(record_file.parent / "derived", folder / "derived")


def _figure_tables(store: Store) -> str:
    """Figure 7's points (γ, accuracy) and Table 4 of both FCN studies as the book shows them."""
    text = []
    for name, profile in (("fcn-mnist", "paper"), ("fcn-fmnist", "cpu")):
        setup, seeds = SETUPS[name], list(chapter_defaults(profile, "distillation")["seeds"])
        text.append(report.points_markdown(report.figure_points(setup, profile, seeds, store=store)))
        text.append(report.table4_markdown(report.table4_summaries(setup, profile, seeds, store=store), name))
    return "\n".join(text)


def test_migrating_the_committed_records_keeps_gamma_and_the_figure_tables(tmp_path):
    """The committed store with every γ written the old way (as records) migrates back to the same
    values and the same Figure 7 / Table 4 tables."""
    committed = Store(REPO / "results")
    _copy_without_arrays(committed.root, tmp_path)
    gammas = _committed_gammas(committed)
    assert gammas
    legacy_store = Store(tmp_path)
    for teacher, temperature, gamma in gammas:
        shutil.rmtree(legacy_store.get(teacher.key).path / "derived", ignore_errors=True)
    for teacher, temperature, gamma in gammas:
        legacy_store.put(_legacy(legacy_store.get(teacher.key), temperature, gamma))
    migrated = Store(tmp_path)
    assert len(migrate_legacy_records(migrated, delete=True)) == len(gammas)
    assert migrated.folders(LEGACY_RECIPE) == []
    for teacher, temperature, gamma in gammas:
        assert migrated.derived(migrated.get(teacher.key), smoothness_name(temperature))["gamma"] == gamma
    assert _figure_tables(Store(tmp_path)) == _figure_tables(committed)
