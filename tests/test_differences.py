"""The differences from the replication (lsbook.differences): every place they name exists, the
facts they state about our code hold, the chapters link to the appendix, and the repository cites
no document outside it."""

import re

import pytest

from lsbook import differences
from lsbook.book import execute as chapters
from lsbook.book import tables
from lsbook.differences import DIFFERENCES, KINDS
from lsbook.errors import LsbookError
from lsbook.profiles import PROFILES, resolve
from lsbook.recipes import RECIPES

PAGE = "differences"
BY_KEY = {d.key: d for d in DIFFERENCES}


def test_every_difference_is_complete_and_unique():
    assert len(BY_KEY) == len(DIFFERENCES)
    for d in DIFFERENCES:
        assert d.kind in KINDS, d.key
        assert d.topic and d.replication and d.source and d.ours and d.why, d.key
        assert set(d.profiles) <= set(PROFILES) and d.profiles, d.key
        assert d.code or d.recipes, f"{d.key}: names no place in our code"
    assert {d.kind for d in DIFFERENCES if d.general} == set(KINDS)


@pytest.mark.parametrize("difference", DIFFERENCES, ids=lambda d: d.key)
def test_every_place_named_exists(difference):
    for location in difference.code:
        differences.resolve_location(location)
    assert set(difference.recipes) <= set(RECIPES), difference.key


def test_resolve_location_names_what_is_missing():
    assert differences.resolve_location("lsbook.recipes:RECIPES") is RECIPES
    with pytest.raises(LsbookError, match="no module 'lsbook.nowhere'"):
        differences.resolve_location("lsbook.nowhere")
    with pytest.raises(LsbookError, match="has no 'Recipe.colour'"):
        differences.resolve_location("lsbook.recipes:Recipe.colour")


@pytest.mark.parametrize("difference", [d for d in DIFFERENCES if d.chapters], ids=lambda d: d.key)
def test_the_chapters_named_link_to_the_appendix(difference):
    page_label = chapters.chapter_label(PAGE)
    for name in difference.chapters:
        chapters.chapter_label(name)  # the table links to it
        assert f"{{ref}}`{page_label}`" in chapters.chapter_path(name).read_text(), \
            f"{name} discusses {difference.key} but does not link to the appendix"


def test_the_appendix_is_in_the_toc_and_its_tables_show_every_difference():
    assert PAGE in chapters.chapter_names()
    shown = "".join(tables.differences_table(differences.select(kind=k, general=True)) for k in KINDS)
    shown += tables.differences_table(differences.select(general=False))
    for d in DIFFERENCES:
        assert d.topic in shown and d.why in shown, d.key
    assert shown.count("\n| **") == len(DIFFERENCES)


def test_select_filters_and_checks_its_arguments():
    assert differences.select() == DIFFERENCES
    assert all(d.kind == "fault" for d in differences.select(kind="fault"))
    cpu_only = differences.select(general=False)
    assert cpu_only and all(d.profiles == ("cpu",) for d in cpu_only)
    assert not differences.select(profile="paper", general=False)
    assert all("transformer" in d.chapters for d in differences.select(chapter="transformer"))
    with pytest.raises(LsbookError, match="kind"):
        differences.select(kind="opinion")
    with pytest.raises(LsbookError, match="profile"):
        differences.select(profile="gpu")


# --- what the records say about our code, checked against it -------------------------------------

def test_fcn_recipes_are_as_the_differences_say():
    for name in BY_KEY["fcn-dropout"].recipes[:3] + BY_KEY["fcn-learning-rates"].recipes:
        recipe = RECIPES[name]
        assert recipe.model_kwargs["dropout"] == 0.0 and recipe.model_kwargs["init"] == "std", name
        assert recipe.lr == 1.0 and recipe.lr_multipliers == {"head": 0.1} and recipe.schedule == "linear"
    assert RECIPES["fcn-mnist-dropout"].model_kwargs["dropout"] == 0.5


def test_cifar_recipes_are_as_the_differences_say():
    from lsbook.models import build

    for name in BY_KEY["resnet56-width"].recipes:
        assert RECIPES[name].model_kwargs["width"] == 16
    alexnet = RECIPES["alexnet-cifar10"]
    assert alexnet.weight_decay == 0.04 and alexnet.weight_decay_on == ("fc1.weight", "fc2.weight")
    head = build("alexnet", 10).head.weight
    assert head.unique().numel() > 1  # not one value, as the replication's a == b truncation gave


def test_transformer_and_tiny_imagenet_recipes_are_as_the_differences_say():
    assert RECIPES["transformer-multi30k"].model_kwargs["dropout"] > 0  # the replication's script: 0
    assert RECIPES["resnet50-tinyimagenet"].batch_size == 256


@pytest.mark.parametrize("difference", [d for d in DIFFERENCES if not d.general], ids=lambda d: d.key)
def test_a_profile_difference_is_made_by_exactly_its_profiles(difference):
    (name,) = difference.recipes
    base = RECIPES[name]
    changed = {p for p in PROFILES if resolve(name, p).lr != base.lr}
    assert changed == set(difference.profiles)


def test_the_estimator_bias_stated_is_the_one_measured():
    from lsbook.information import unrelated_reference

    assert "about 0.11 nats" in BY_KEY["mi-estimator"].why
    assert unrelated_reference(600, 5).mean == pytest.approx(0.11, abs=0.01)


# --- no citation of documents outside the repository ----------------------------------------------

# Built from parts, so that this file does not match itself.
OUTSIDE = re.compile("|".join([r"DESIGN" + r"\.md", r"ORIGINAL" + r"\.md", r"seeds" + r"/0",
                               r"\b[Ii]ssue" + r" #?\d"]))
SEARCHED = ["lsbook", "tests", "book", "scripts", "bench", ".ci", "data", "README.md", "_config.yml", "_toc.yml"]
SUFFIXES = {"", ".py", ".md", ".sh", ".yml", ".yaml", ".toml", ".txt", ".cfg", ".bib", ".css"}


def test_no_file_cites_a_document_outside_the_repository():
    root = chapters.REPO_ROOT
    found = []
    for entry in SEARCHED:
        path = root / entry
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and p.suffix in SUFFIXES
                                               and "__pycache__" not in p.parts]
        for file in files:
            for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
                if OUTSIDE.search(line):
                    found.append(f"{file.relative_to(root)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)
