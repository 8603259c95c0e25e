"""``python -m lsbook plan / train / runs / sweep``: output, skipping stored runs, failures, bad input."""

from __future__ import annotations

import pytest

import lsbook.cli
import lsbook.train as train
from lsbook.errors import LsbookError
from lsbook.run_config import RunConfig
from lsbook.store import Store


@pytest.fixture
def lsbook_main(tmp_path, monkeypatch):
    """lsbook.cli.main with a temporary store and checkpoint folder."""
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LSBOOK_RUNS", str(tmp_path / "runs"))
    return lsbook.cli.main


def stored_keys(tmp_path) -> list[str]:
    return [p.name for p in Store(tmp_path / "results").folders()]


def test_every_help_text_formats(capsys):
    """``--help`` of the program and of every command prints (argparse %-formats help texts: a bare
    "%" in one breaks ``python -m lsbook --help``)."""
    parser = lsbook.cli.build_parser()
    commands = next(a for a in parser._actions if a.choices)  # the subcommands
    for command in [[]] + [[name] for name in commands.choices]:
        with pytest.raises(SystemExit) as done:
            parser.parse_args(command + ["--help"])
        assert done.value.code == 0
        assert "usage:" in capsys.readouterr().out


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


@pytest.mark.slow
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


@pytest.mark.slow
def test_runs_reports_a_damaged_record(lsbook_main, tmp_path, capsys):
    assert lsbook_main(["train", "fcn-fmnist", "--profile", "smoke", "--epochs", "1", "--quiet"]) == 0
    folder = Store(tmp_path / "results").folders()[0]
    (folder / "record.json").write_text("{")
    capsys.readouterr()
    assert lsbook_main(["runs"]) == 1
    captured = capsys.readouterr()
    assert "0 run(s)" in captured.out and str(folder) in captured.err


@pytest.mark.slow
def test_sweep_skips_stored_runs_and_goes_on_after_a_failure(lsbook_main, tmp_path, capsys, monkeypatch):
    original = train.run_training

    def flaky(task, *args, **kwargs):
        if task.alpha == 0.05:
            raise RuntimeError("simulated crash")
        return original(task, *args, **kwargs)

    monkeypatch.setattr(train, "run_training", flaky)
    argv = ["sweep", "fcn-fmnist", "--alphas", "0", "0.05", "0.1", "--seeds", "0", "--profile", "smoke",
            "--epochs", "1", "--quiet"]
    assert lsbook_main(argv) == 1
    captured = capsys.readouterr()
    assert "3 run(s): 0 already stored, 2 trained, 1 failed" in captured.out
    assert "alpha=0.05 seed=0 epochs=1: RuntimeError: simulated crash" in captured.err
    assert "Traceback" in captured.err  # not an LsbookError: a bug keeps its traceback
    assert len(stored_keys(tmp_path)) == 2

    monkeypatch.setattr(train, "run_training", original)
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
    expected = RunConfig.of("fcn-fmnist-student", 0.1, 3, "cpu")
    assert report["key"] == expected.key and report["config"] == expected.as_dict()
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


# --- one command line: errors, distillation grids, dirty trees, the runs table ------------------------

def test_only_lsbook_errors_become_one_line(lsbook_main, monkeypatch, capsys):
    import lsbook.cli

    def broken(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(lsbook.cli, "cmd_runs", broken)
    with pytest.raises(RuntimeError, match="a bug"):  # a bug keeps its traceback
        lsbook_main(["runs"])

    def refused(args):
        raise LsbookError("bad input\nsecond line")

    monkeypatch.setattr(lsbook.cli, "cmd_runs", refused)
    assert lsbook_main(["runs"]) == 2
    assert capsys.readouterr().err == "error: bad input\n"


def test_distill_and_sweep_distillation_are_one_grid_and_one_path(lsbook_main, monkeypatch):
    seen = []
    monkeypatch.setattr(lsbook.cli, "run_sweep", lambda args, specs: seen.append(specs) or 0)
    common = ["--alphas", "0", "0.3", "--temperatures", "1", "2", "--profile", "smoke", "--seeds", "0", "1"]
    assert lsbook_main(["distill", "fcn-fmnist", *common]) == 0
    assert lsbook_main(["sweep", "fcn-fmnist", "--distillation", *common]) == 0
    distill, sweep = seen
    assert distill == sweep and len(distill) == 2 * 11  # per seed: 4 teachers, 2 baselines, 5 students
    assert {s.config.recipe.name for s in distill} == {"fcn-fmnist", "fcn-fmnist-student", "fcn-fmnist-dropout"}
    assert lsbook_main(["distill", "fcn-fmnist", *common, "--no-table4"]) == 0
    assert len(seen[-1]) == 2 * 7


@pytest.mark.slow
def test_a_paper_run_refuses_a_dirty_tree_unless_allowed(lsbook_main, tmp_path, capsys, monkeypatch):
    import lsbook.provenance

    monkeypatch.setattr(lsbook.provenance, "code_version", lambda: {"git_commit": "c" * 40, "git_dirty": True})
    monkeypatch.setattr(lsbook.provenance, "working_tree_diff", lambda: "diff --git a/x b/x\n" + "+" * 300_000)
    assert lsbook_main(["train", "fcn-fmnist", "--profile", "paper", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "--allow-dirty" in err and "\n" not in err
    assert not (tmp_path / "results").exists() and not (tmp_path / "runs").exists()
    # allowed: the record's provenance keeps the diff, cut at DIFF_LIMIT characters
    tiny = {"train_subset": 256, "val_subset": 128, "test_subset": 128, "epochs": 1,
            "model_kwargs": {"hidden": 32, "dropout": 0.0, "init": "std", "init_scale": 0.03}}
    record = train.ensure_run(RunConfig.of("fcn-fmnist", 0.0, 0, "paper", overrides=tiny), progress=False,
                              allow_dirty=True, store=Store(tmp_path / "results"), runs_root=tmp_path / "runs")
    p = record.provenance
    assert p["git_dirty"] is True and p["git_diff"].startswith("diff --git a/x b/x")
    assert len(p["git_diff"]) == lsbook.provenance.DIFF_LIMIT and p["git_diff_truncated"] is True
    # the cpu profile trains from a dirty tree without asking
    cpu = train.ensure_run(RunConfig.of("fcn-fmnist", 0.0, 0, "cpu", overrides=tiny), progress=False,
                           store=Store(tmp_path / "results"), runs_root=tmp_path / "runs")
    assert "git_diff" not in cpu.provenance


def test_runs_table_shows_distillation_temperature_teacher_and_probe(lsbook_main, tmp_path, capsys):
    from lsbook.store import Record, config_key

    teacher = RunConfig.of("fcn-fmnist", 0.1, 0, "smoke")
    student = RunConfig.of("fcn-fmnist-student", 0.0, 0, "smoke", teacher=teacher, distill_temperature=4.0)
    probed = RunConfig.of("fcn-fmnist", 0.0, 0, "smoke", probe="mutual_information(every=1)")
    store = Store(tmp_path / "results")
    for config in (teacher, student, probed):
        store.put(Record(key=config.key, config=config.as_dict(), metrics={"test_accuracy": 0.5}, provenance={},
                         arrays={}))
    assert config_key(student.as_dict()) == student.key
    assert lsbook_main(["runs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:9] == ["key", "recipe", "profile", "alpha", "seed", "teacher", "T", "probe", "epochs"]
    row = next(line for line in lines if line.startswith(student.key))
    assert teacher.key in row and " 4 " in row
    assert "mutual_information" in next(line for line in lines if line.startswith(probed.key))
