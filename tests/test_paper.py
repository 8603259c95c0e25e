"""lsbook.paper: the published numbers are complete, consistent with each other and in range."""

import math

import pytest

from lsbook import paper
from lsbook.data import get_dataset
from lsbook.errors import LsbookError
from lsbook.recipes import RECIPES

CLASSIFIERS_OF_TABLE2 = ["fcn-mnist", "fcn-emnist", "fcn-fmnist", "alexnet-cifar10", "resnet56-cifar10",
                         "resnet56-cifar100", "resnet34-cub200", "resnet50-tinyimagenet"]


def test_every_table2_recipe_of_the_contract_has_a_full_replication_row():
    assert sorted(paper.REPLICATION_ACCURACY) == sorted(CLASSIFIERS_OF_TABLE2)
    for name, row in paper.REPLICATION_ACCURACY.items():
        assert name in RECIPES
        assert tuple(sorted(row)) == paper.TABLE_ALPHAS, name


def test_table3_has_every_classifier_and_the_transformer():
    assert sorted(paper.REPLICATION_CALIBRATION) == sorted(CLASSIFIERS_OF_TABLE2 + ["transformer-multi30k"])
    for name, row in paper.REPLICATION_CALIBRATION.items():
        assert name in RECIPES
        assert row.baseline_ece is not None
        assert set(row.smoothed_ece) == set(paper.TABLE_ALPHAS) - {0.0}, name


def test_original_rows_name_a_recipe_or_an_extra_row():
    for table in (paper.ORIGINAL_ACCURACY, paper.ORIGINAL_CALIBRATION):
        for name in table:
            assert name in RECIPES or name in paper.EXTRA_ROWS, name


@pytest.mark.parametrize("table", [paper.REPLICATION_ACCURACY, paper.ORIGINAL_ACCURACY])
def test_accuracies_are_percentages_with_a_source(table):
    for name, row in table.items():
        for alpha, value in row.items():
            assert 0.0 <= alpha < 1.0
            assert 1.0 < value.value <= 100.0, (name, alpha)
            assert value.std is None or 0.0 <= value.std < 5.0
            assert "Table 2" in value.source


@pytest.mark.parametrize("table", [paper.REPLICATION_CALIBRATION, paper.ORIGINAL_CALIBRATION])
def test_calibration_values_are_in_range(table):
    for name, row in table.items():
        eces = [row.scaled_ece, *row.smoothed_ece.values()] + ([row.baseline_ece] if row.baseline_ece else [])
        assert all(0.0 <= e <= 1.0 for e in eces), name
        assert 0.5 < row.temperature < 5.0, name
        assert "Table 3" in row.source


def test_temperature_scaling_beats_the_uncalibrated_baseline_in_every_published_row():
    # The papers' finding in Table 3: the α = 0 network at its T is better calibrated than at T = 1.
    for table in (paper.REPLICATION_CALIBRATION, paper.ORIGINAL_CALIBRATION):
        for name, row in table.items():
            assert row.scaled_ece <= row.baseline_ece, name


def test_the_replication_quotes_the_original_consistently():
    # Table 3 of the replication prints the original's ResNet-56/CIFAR-100 row.
    original = paper.ORIGINAL_CALIBRATION["resnet56-cifar100"]
    assert (original.baseline_ece, original.temperature, original.scaled_ece) == (0.150, 1.9, 0.021)
    assert paper.ORIGINAL_ACCURACY["alexnet-cifar10"][0.0].std == 0.2


def test_table4_is_complete_and_shows_the_papers_finding():
    for table in (paper.REPLICATION_DISTILLATION_ERROR, paper.ORIGINAL_DISTILLATION_ERROR):
        assert tuple(table) == paper.DISTILLATION_ROLES
        assert all(0.0 < v.value < 5.0 for v in table.values())
        # the smoothed teacher is better, its student worse (Section 6.1 of the replication)
        assert table["teacher with LS"].value < table["teacher without LS"].value
        assert table["student with LS"].value > table["student without LS"].value


def test_table5_marks_known_recipes_and_experiments():
    for name, marks in paper.TABLE5_EXPERIMENTS.items():
        assert name in RECIPES
        assert marks and marks <= set(paper.EXPERIMENTS)
    assert paper.recipes_for("plr") == ["fcn-mnist", "alexnet-cifar10", "resnet56-cifar100",
                                        "resnet34-cub200", "resnet50-tinyimagenet"]
    assert "transformer-multi30k" not in paper.recipes_for("accuracy")
    with pytest.raises(LsbookError, match="experiment"):
        paper.recipes_for("nonsense")


def test_figure2_classes_are_the_first_three_classes_of_each_dataset():
    for name, classes in paper.FIGURE2_CLASSES.items():
        assert name in paper.recipes_for("plr")
        info = get_dataset(RECIPES[name].dataset)
        assert tuple(info.class_names[:3]) == classes
        assert RECIPES[name].plot_classes == (0, 1, 2)


def test_published_accuracy_lists_replication_then_original():
    found = paper.published_accuracy("alexnet-cifar10", 0.1)
    assert [v.value for v in found] == [85.47, 86.7]
    assert paper.published_accuracy("alexnet-cifar10", 0.05)[0].value == 85.13
    assert paper.published_accuracy("fcn-fmnist", 0.2) == []


def test_literature_rows_are_finite():
    for row in paper.ORIGINAL_LITERATURE:
        assert math.isfinite(row.without) and all(math.isfinite(v) for v in row.with_ls)
