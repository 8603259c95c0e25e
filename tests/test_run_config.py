"""RunConfig: what one run is, checked once when it is made; its key; its label; students and probes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from lsbook.errors import LsbookError
from lsbook.profiles import resolve, settings_for
from lsbook.run_config import Distillation, RunConfig
from lsbook.store import Record, config_key


def test_a_config_is_its_stored_dictionary_and_key():
    config = RunConfig.of("fcn-fmnist", 0.1, np.int64(2), "cpu")
    stored = config.as_dict()
    assert (stored["recipe"], stored["profile"], stored["alpha"], stored["seed"]) == ("fcn-fmnist", "cpu", 0.1, 2)
    assert stored["resolved_recipe"] == resolve("fcn-fmnist", "cpu").to_dict()
    assert stored["teacher_key"] is None and stored["distill"] is None and stored["step_callback"] is None
    assert config.key == config_key(stored) and isinstance(config.seed, int)
    assert RunConfig.of("fcn-fmnist", 0.1, 2, "cpu") == config and len({config, RunConfig.of("fcn-fmnist", 0.1, 2, "cpu")}) == 1
    assert RunConfig.of("fcn-fmnist", 0.1, 3, "cpu").key != config.key
    assert pickle.loads(pickle.dumps(config)) == config  # SLURM tasks receive configs pickled


@pytest.mark.parametrize("args, kwargs, match", [
    (("fcn-fmnist", 1.0, 0, "cpu"), {}, "alpha must be in"),
    (("fcn-fmnist", float("nan"), 0, "cpu"), {}, "alpha must be in"),
    (("fcn-fmnist", 0.1, -1, "cpu"), {}, "seed must be an integer >= 0"),
    (("fcn-fmnist", 0.1, 1.5, "cpu"), {}, "seed must be an integer >= 0"),
    (("fcn-fmnist", 0.1, True, "cpu"), {}, "seed must be an integer >= 0"),
    (("fcn-fmnist", 0.1, 0, "gpu"), {}, "unknown profile 'gpu'"),
    (("nope", 0.1, 0, "cpu"), {}, "unknown recipe 'nope'"),
    (("fcn-fmnist", 0.1, 0, "cpu"), {"overrides": {"epochs": 0}}, "epochs"),
    (("fcn-fmnist", 0.1, 0, "cpu"), {"distill_temperature": 2.0}, "need a teacher"),
    (("fcn-fmnist", 0.1, 0, "cpu"), {"probe": ""}, "probe must be"),
    (("fcn-fmnist", 0.1, 0, "cpu"), {"translation": settings_for("cpu")}, "Transformer recipes"),
    (("transformer-multi30k-small", 0.1, 0, "cpu"), {"probe": "mi"}, "image classifiers"),
])
def test_bad_input_is_one_line_naming_the_parameter(args, kwargs, match):
    with pytest.raises(LsbookError, match=match) as error:
        RunConfig.of(*args, **kwargs)
    assert "\n" not in str(error.value)


def test_a_student_names_its_teacher_and_its_loss():
    teacher = RunConfig.of("fcn-mnist", 0.1, 0, "paper")
    student = RunConfig.of("fcn-mnist-student", 0.0, 0, "paper", teacher=teacher, distill_temperature=4)
    assert student.distillation == Distillation(teacher.key, 4.0, "replication", 0.6)
    assert student.as_dict()["teacher_key"] == teacher.key
    assert student.as_dict()["distill"] == {"loss": "replication", "temperature": 4.0, "beta": 0.6}
    assert student.label() == "fcn-mnist-student [paper] alpha=0 seed=0 <- fcn-mnist alpha=0.1 at T=4"
    original = RunConfig.of("fcn-mnist-student", 0.0, 0, "paper", teacher=teacher, distill_loss="original")
    assert original.distillation.beta == 1.0 and original.key != student.key
    # a stored teacher record serves as well as its config, and gives the same key
    record = Record(key=teacher.key, config=teacher.as_dict(), metrics={}, provenance={})
    assert RunConfig.of("fcn-mnist-student", 0.0, 0, "paper", teacher=record, distill_temperature=4).key == student.key
    with pytest.raises(LsbookError, match="alpha must be 0 for a distilled student"):
        RunConfig.of("fcn-mnist-student", 0.1, 0, "paper", teacher=teacher)
    with pytest.raises(LsbookError, match="trained on 'mnist', the student on 'fashion-mnist'"):
        RunConfig.of("fcn-fmnist-student", 0.0, 0, "paper", teacher=teacher)
    with pytest.raises(LsbookError, match="beta must be in"):
        RunConfig.of("fcn-mnist-student", 0.0, 0, "paper", teacher=teacher, beta=1.5)
    with pytest.raises(LsbookError, match="distill_loss"):
        RunConfig.of("fcn-mnist-student", 0.0, 0, "paper", teacher=teacher, distill_loss="kl")


def test_a_transformer_config_carries_its_profiles_translation_settings():
    config = RunConfig.of("transformer-multi30k-small", 0.1, 0, "paper")
    assert config.translation == settings_for("paper", config.recipe) and config.translation.vocab_size == 4000
    assert config.num_classes == 4000 and config.as_dict()["translation"] == config.translation.to_dict()
    assert "translation" not in RunConfig.of("fcn-fmnist", 0.1, 0, "paper").as_dict()


def test_the_label_shows_what_differs_from_the_profiles_recipe():
    assert RunConfig.of("fcn-fmnist", 0.05, 0, "smoke").label() == "fcn-fmnist [smoke] alpha=0.05 seed=0"
    shorter = RunConfig.of("fcn-fmnist", 0.05, 0, "smoke", overrides={"epochs": 1})
    assert shorter.label() == "fcn-fmnist [smoke] alpha=0.05 seed=0 epochs=1"
    assert shorter.changed_fields() == {"epochs": 1}
    assert RunConfig.of("fcn-fmnist", 0.0, 0, "smoke", probe="mi").label().endswith("with probe")
