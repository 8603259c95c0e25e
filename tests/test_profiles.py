"""lsbook.profiles and lsbook.book.settings: every change a profile makes is data in one place,
the appendix's table lists all of it, and a chapter's parameters resolve from it."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from lsbook import paper
from lsbook.book import tables
from lsbook.book.settings import CHAPTERS, PROFILE_ONLY_CHAPTERS, chapter_settings, training_length
from lsbook.errors import LsbookError
from lsbook.experiments.mutual_info import MI_SETUPS
from lsbook.profiles import (PROFILE_TABLE, PROFILES, get_profile, profile_changes, resolve, resolve_profile,
                             settings_for)
from lsbook.recipes import RECIPES, VARIANT_OF
from lsbook.run_config import RunConfig

PACKAGE = Path(__file__).resolve().parents[1] / "lsbook"


def test_recipes_do_not_import_profiles():
    """The dependency runs one way: profiles -> recipes (no import cycle)."""
    tree = ast.parse((PACKAGE / "recipes.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(name and name.startswith(("lsbook.profiles", "lsbook.train")) for name in imported)


def test_every_profile_defines_every_chapter_and_probe():
    for name in PROFILES:
        profile = get_profile(name)
        assert set(profile.chapters) == set(CHAPTERS)
        assert set(profile.probe_every) == set(MI_SETUPS)
        assert all(p in PROFILES and p != name for p in profile.shown_beside)
    with pytest.raises(LsbookError, match="unknown profile 'laptop'; allowed: cpu, paper, smoke"):
        get_profile("laptop")


def test_paper_profile_changes_nothing():
    for name, recipe in RECIPES.items():
        assert resolve(name, "paper") == recipe
    assert settings_for("paper") == settings_for("paper").replace()
    assert all(what.startswith("chapter") or changes in ("(unchanged)", "none")
               for what, changes in profile_changes("paper"))


def test_cpu_transformer_learning_rate_is_a_profile_change_shown_in_the_table():
    assert RECIPES["transformer-multi30k"].lr == 1e-4
    assert resolve("transformer-multi30k", "cpu").lr == 1e-3 == RunConfig.of("transformer-multi30k", 0.0, 0, "cpu").recipe.lr
    table = tables.profile_changes_table("cpu")
    row = next(line for line in table.splitlines() if "`transformer-multi30k`" in line)
    assert "lr: 0.0001 → 0.001" in row
    assert "vocab_size: 8000 → 4000" in table


def test_profile_table_lists_every_change_of_the_profile_data():
    """Each item of the cpu and smoke profiles appears in the appendix's table."""
    for name in ("cpu", "smoke"):
        table = tables.profile_changes_table(name)
        profile = PROFILE_TABLE[name]
        for recipe, changes in profile.recipes.items():
            row = next(line for line in table.splitlines() if f"`{recipe}`" in line)
            for field in changes:
                assert f"{field}:" in row, (name, recipe, field)
        for field in profile.recipe_caps:
            assert f"{field}:" in table.split("`fcn-fmnist`")[1].split("\n")[0], (name, field)
        for field in profile.translation:
            assert f"{field}:" in table, (name, field)
        for chapter in profile.chapters:
            assert f"`{chapter}` defaults" in table
        for setup, every in profile.probe_every.items():
            assert f"{setup}: every {PROFILE_TABLE['paper'].probe_every[setup]} steps → every {every} step" in table
        assert "stored runs shown beside" in table
    assert "`paper`" in tables.profile_changes_table("cpu").split("stored runs shown beside")[1]


def test_epoch_changes_rescale_the_schedule():
    cpu = resolve("fcn-fmnist", "cpu")
    assert cpu.epochs == 3 and cpu.schedule == "linear"
    cub = resolve("resnet34-cub200", "smoke")
    assert cub.epochs == 1 and cub.lr_step_epochs == 1 and cub.batch_size == 32
    assert resolve("resnet34-cub200", "smoke").model_kwargs["pretrained"] is False
    assert resolve("transformer-multi30k", "smoke").model_kwargs["d_model"] == 32


def test_resolve_profile_prefers_the_parameter_then_the_environment(monkeypatch):
    monkeypatch.delenv("LSBOOK_PROFILE", raising=False)
    assert resolve_profile(None) == "cpu"
    monkeypatch.setenv("LSBOOK_PROFILE", "smoke")
    assert resolve_profile(None) == "smoke"
    assert resolve_profile("paper") == "paper"
    with pytest.raises(LsbookError, match="profile parameter"):
        resolve_profile("fast")
    monkeypatch.setenv("LSBOOK_PROFILE", "huge")
    with pytest.raises(LsbookError, match=r"\$LSBOOK_PROFILE"):
        resolve_profile(None)


# --- chapter settings ------------------------------------------------------------------------------

def test_chapter_settings_defaults_come_from_the_profile(monkeypatch):
    monkeypatch.delenv("LSBOOK_PROFILE", raising=False)
    accuracy = chapter_settings("accuracy")
    assert accuracy.profile == "cpu" and [r for r in accuracy.recipes if r not in VARIANT_OF] == paper.recipes_for("accuracy")
    # each paper recipe is followed by its variants on this machine's data and schedule
    assert accuracy.recipes.index("resnet56-cifar10-jpeg") == accuracy.recipes.index("resnet56-cifar10") + 1
    assert accuracy.alphas == list(paper.TABLE_ALPHAS) and accuracy.seeds == [0]
    smoke = chapter_settings("penultimate", "smoke")
    assert set(smoke.recipes) <= set(PROFILE_TABLE["smoke"].chapter_recipes) and "fcn-fmnist" in smoke.recipes
    calibration = chapter_settings("calibration", "paper")
    assert not any(RECIPES[r].model == "transformer" for r in calibration.recipes)
    assert calibration.seeds == [0, 1, 2, 3, 4]
    assert chapter_settings("transformer", "cpu").alphas == [0.0, 0.1, 0.3]
    distill = chapter_settings("distillation", "cpu")
    assert [s.name for s in distill.setups] == ["fcn-fmnist"] and distill.setups[0].alphas == (0.0, 0.3, 0.6)
    assert distill.setups[0].temperatures == (1.0, 4.0, 16.0)
    paper_distill = chapter_settings("distillation", "paper")
    assert paper_distill.setups[0].alphas == (0.0, 0.15, 0.3, 0.45, 0.6, 0.75)
    mi = chapter_settings("mutual_information", "paper")
    assert [s.name for s in mi.setups] == ["resnet56-cifar10-jpeg", "resnet56-cifar10", "fcn-fmnist"] and mi.alphas is None


def test_chapter_settings_take_the_chapters_parameters_and_check_them(monkeypatch, tmp_path):
    monkeypatch.delenv("LSBOOK_DATA", raising=False)
    chosen = chapter_settings("calibration", "cpu", recipes="fcn-fmnist", alphas=0.1, seeds=3,
                              data_root=str(tmp_path))
    assert (chosen.recipes, chosen.alphas, chosen.seeds) == (["fcn-fmnist"], [0.1], [3])
    assert os.environ["LSBOOK_DATA"] == str(tmp_path)
    with pytest.raises(LsbookError, match="alpha"):
        chapter_settings("calibration", "cpu", alphas=[1.5])
    with pytest.raises(LsbookError, match="unknown recipe 'nope'"):
        chapter_settings("calibration", "cpu", recipes=["nope"])
    with pytest.raises(LsbookError, match="unknown chapter"):
        chapter_settings("epilogue", "cpu")
    with pytest.raises(LsbookError, match="seeds"):
        chapter_settings("transformer", "cpu", seeds=[-1])
    with pytest.raises(LsbookError, match="temperature"):
        chapter_settings("distillation", "cpu", temperatures=[0.0])
    with pytest.raises(LsbookError, match="profile"):
        chapter_settings("accuracy", "laptop")


def test_every_other_page_takes_only_its_profile_from_chapter_settings(monkeypatch):
    monkeypatch.setenv("LSBOOK_PROFILE", "smoke")
    for chapter in PROFILE_ONLY_CHAPTERS:
        settings = chapter_settings(chapter)
        assert (settings.profile, settings.seeds, settings.alphas, settings.recipes) == ("smoke", [], None, [])
    assert chapter_settings("intro", "paper").profile == "paper"
    with pytest.raises(LsbookError, match="takes only a profile here, not alphas"):
        chapter_settings("label_smoothing", "cpu", alphas=[0.1])


def test_training_length_follows_the_profile():
    assert training_length("fcn-fmnist", "cpu") == "3 epochs on 55,000 training examples (5,000 held out)"
    assert training_length("fcn-fmnist", "paper") == "100 epochs on 55,000 training examples (5,000 held out)"
    assert training_length("fcn-fmnist-full", "paper") == "100 epochs on all 60,000 training examples"  # N15
