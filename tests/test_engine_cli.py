"""``python -m lsbook train / runs / sweep``: output, skipping stored runs, failures, bad input."""

from __future__ import annotations

import pytest

import lsbook.cli
import lsbook.train as train
from lsbook.store import Store


@pytest.fixture
def lsbook_main(tmp_path, monkeypatch):
    """lsbook.cli.main with only the engine's commands, a temporary store and checkpoint folder."""
    monkeypatch.setattr(lsbook.cli, "COMMAND_MODULES", ("lsbook.engine_cli",))
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LSBOOK_RUNS", str(tmp_path / "runs"))
    return lsbook.cli.main


def stored_keys(tmp_path) -> list[str]:
    return [p.name for p in Store(tmp_path / "results").folders()]


@pytest.mark.parametrize("argv, message", [
    (["train", "fcn-fmnist", "--alpha", "1.0"], "alpha must be in [0, 1)"),
    (["train", "fcn-fmnist", "--alpha", "-0.5"], "alpha must be in [0, 1)"),
    (["train", "fcn-fmnist", "--seed", "-1"], "seed must be an integer >= 0"),
    (["train", "fcn-cifar"], "unknown recipe 'fcn-cifar'"),
    (["train", "fcn-fmnist", "--profile", "gpu"], "unknown profile 'gpu'"),
    (["train", "fcn-fmnist", "--epochs", "0"], "epochs must be an integer >= 1"),
    (["train", "fcn-fmnist", "--epochs", "-3"], "epochs must be an integer >= 1"),
    (["sweep", "fcn-fmnist", "--alphas", "0", "1.5", "--profile", "smoke"], "alpha must be in [0, 1)"),
    (["sweep", "fcn-fmnist", "--alphas", "0", "--seeds", "0", "-2", "--profile", "smoke"], "seed must be"),
    (["sweep", "fcn-fmnist", "--alphas", "0", "--profile", "smoke", "--epochs", "0"], "epochs must be"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(lsbook_main, tmp_path, capsys, argv, message):
    assert lsbook_main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


def test_train_then_runs_then_train_again(lsbook_main, tmp_path, capsys):
    argv = ["train", "fcn-fmnist", "--alpha", "0.1", "--seed", "2", "--profile", "smoke", "--epochs", "1", "--quiet"]
    assert lsbook_main(argv) == 0
    out = capsys.readouterr().out
    assert "fcn-fmnist [smoke] alpha=0.1 seed=2" in out and "test: accuracy" in out
    [key] = stored_keys(tmp_path)
    assert lsbook_main(argv) == 0
    assert "already stored" in capsys.readouterr().out
    assert lsbook_main(["runs", "--profile", "smoke"]) == 0
    table = capsys.readouterr().out
    assert key in table and "fcn-fmnist" in table and "1 run(s)" in table
    assert lsbook_main(["runs", "--recipe", "alexnet-cifar10"]) == 0
    assert "0 run(s)" in capsys.readouterr().out


def test_runs_reports_a_damaged_record(lsbook_main, tmp_path, capsys):
    assert lsbook_main(["train", "fcn-fmnist", "--profile", "smoke", "--epochs", "1", "--quiet"]) == 0
    folder = Store(tmp_path / "results").folders()[0]
    (folder / "record.json").write_text("{")
    capsys.readouterr()
    assert lsbook_main(["runs"]) == 1
    captured = capsys.readouterr()
    assert "0 run(s)" in captured.out and str(folder) in captured.err


def test_sweep_skips_stored_runs_and_goes_on_after_a_failure(lsbook_main, tmp_path, capsys, monkeypatch):
    original = train.train_classifier

    def flaky(plan, *args, **kwargs):
        if plan.config["alpha"] == 0.05:
            raise RuntimeError("simulated crash")
        return original(plan, *args, **kwargs)

    monkeypatch.setattr(train, "train_classifier", flaky)
    argv = ["sweep", "fcn-fmnist", "--alphas", "0", "0.05", "0.1", "--seeds", "0", "--profile", "smoke",
            "--epochs", "1", "--quiet"]
    assert lsbook_main(argv) == 1
    captured = capsys.readouterr()
    assert "3 run(s): 0 already stored, 2 trained, 1 failed" in captured.out
    assert "alpha=0.05 seed=0: RuntimeError: simulated crash" in captured.err
    assert len(stored_keys(tmp_path)) == 2

    monkeypatch.setattr(train, "train_classifier", original)
    assert lsbook_main(argv) == 0
    assert "3 run(s): 2 already stored, 1 trained, 0 failed" in capsys.readouterr().out
    assert len(stored_keys(tmp_path)) == 3


def test_threads_must_be_positive(lsbook_main, tmp_path, capsys):
    assert lsbook_main(["train", "fcn-fmnist", "--profile", "smoke", "--threads", "0"]) == 2
    assert "threads must be an integer >= 1" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_plan_prints_key_steps_and_milestones_without_loading_data(lsbook_main, tmp_path, capsys, monkeypatch):
    import json

    import lsbook.run_data

    monkeypatch.setattr(lsbook.run_data, "load_run_data", lambda *a, **k: pytest.fail("plan loaded data"))
    assert lsbook_main(["plan", "fcn-fmnist-student", "--profile", "cpu", "--alpha", "0.1", "--seed", "3",
                        "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = train.plan_run("fcn-fmnist-student", 0.1, 3, "cpu")
    assert report["key"] == expected.key and report["config"] == expected.config
    assert (report["train_examples"], report["steps_per_epoch"], report["total_steps"]) == (55_000, 108, 324)
    assert lsbook_main(["plan", "resnet34-cub200", "--profile", "paper"]) == 0
    text = capsys.readouterr().out
    assert "steps per epoch    22 (batches of 256)" in text and "×0.9 at steps 220, 440" in text
    assert "resolved_recipe.lr = 0.3" in text
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv, message", [
    (["plan", "fcn-cifar"], "unknown recipe 'fcn-cifar'"),
    (["plan", "fcn-fmnist", "--profile", "gpu"], "unknown profile 'gpu'"),
    (["plan", "fcn-fmnist", "--alpha", "1"], "alpha must be in [0, 1)"),
])
def test_plan_rejects_bad_input_in_one_line(lsbook_main, capsys, argv, message):
    assert lsbook_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
