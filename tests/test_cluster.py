"""Tests of lsbook.cluster: the sweep grid, its status, SLURM submission.

Most tests need no SLURM: a fake ``sbatch``/``sinfo``/``squeue`` on PATH records what would be
submitted. ``test_slurm_*`` run against a real single-node SLURM (tests/slurm_cluster.py; skipped
with the reason when not root or slurm-wlm is not installed).
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import stat
import time
from pathlib import Path

import pytest

from lsbook import cluster
from lsbook.book.chapter_sweep import ChapterTask, run_chapter_sweep
from lsbook.cluster import FAILED, MISSING, RUNNING, STORED, Journal
from lsbook.run_config import RunConfig
from lsbook.errors import LsbookError
from lsbook.store import Record, Store
from lsbook.sweep import GridRun, distillation_grid, expand_grid

try:
    import slurm_cluster as slurm_fixture
    from slurm_cluster import slurm_cluster  # noqa: F401 - the fixture, used by name below
except ImportError:  # tests/ imported as a package
    import tests.slurm_cluster as slurm_fixture
    from tests.slurm_cluster import slurm_cluster  # noqa: F401

SMOKE_RECIPE = "fcn-fmnist"


# --- Helpers -------------------------------------------------------------------------------------

def sweep_args(*argv: str) -> argparse.Namespace:
    """The ``sweep`` arguments as ``python -m lsbook sweep`` parses them (lsbook.cli)."""
    from lsbook.cli import build_parser

    return build_parser().parse_args(["sweep", *argv])


def put_fake_record(store: Store, spec: GridRun) -> str:
    """Store a record for ``spec`` without training (status tests need only its presence)."""
    store.put(Record(key=spec.key, config=spec.config.as_dict(), metrics={}, provenance={}, arrays={}))
    return spec.key


def grid_run(alpha: float, keep_model: bool = False, **config) -> GridRun:
    """A smoke run of SMOKE_RECIPE at seed 0."""
    return GridRun(RunConfig.of(SMOKE_RECIPE, alpha, 0, "smoke", **config), keep_model=keep_model)


FAKE_SLURM = {
    # sbatch: keep the script, answer like SLURM with increasing job ids
    "sbatch": """#!/bin/sh
n=$(( $(cat "$FAKE_SLURM/count" 2>/dev/null || echo 100) + 1 )); echo $n > "$FAKE_SLURM/count"
cp "$1" "$FAKE_SLURM/sbatch-$n.sh"; echo "Submitted batch job $n"
""",
    # sinfo: one partition, "debug"; -p NAME prints NAME only when it is "debug"
    "sinfo": """#!/bin/sh
case "$*" in *"-p debug"*|*"-p=debug"*) echo debug;; *-p*) ;; *) echo "debug*";; esac
""",
    "squeue": "#!/bin/sh\ncat \"$FAKE_SLURM/queue\" 2>/dev/null; exit 0\n",
    "srun": "#!/bin/sh\nexit 0\n",
}


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake SLURM commands first on PATH; returns the folder where they record submissions."""
    folder = tmp_path / "fake-slurm"
    folder.mkdir()
    for name, text in FAKE_SLURM.items():
        path = folder / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(folder))
    return folder


def submitted_scripts(folder: Path) -> list[str]:
    return [p.read_text() for p in sorted(folder.glob("sbatch-*.sh"))]


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary results store and checkpoint folder for the test."""
    monkeypatch.setenv("LSBOOK_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LSBOOK_RUNS", str(tmp_path / "runs"))
    return tmp_path


# --- The grid ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, minutes", [("90", 90), ("1:30", 2), ("4:00:00", 240), ("2-00:00:00", 2880),
                                           ("1-6", 1800), ("0:0:59", 1)])
def test_parse_slurm_time(text, minutes):
    assert cluster.parse_slurm_time(text) == minutes


@pytest.mark.parametrize("text", ["", "abc", "0", "1:2:3:4", "-5"])
def test_parse_slurm_time_rejects(text):
    with pytest.raises(LsbookError, match="--time"):
        cluster.parse_slurm_time(text)


def test_expand_grid_plain():
    plain = expand_grid(SMOKE_RECIPE, [0.0, 0.1], [0, 1, 2], "smoke")
    assert len(plain) == 6 and len({s.key for s in plain}) == 6
    assert all(s.teacher_key is None and not s.keep_model for s in plain)
    with pytest.raises(LsbookError, match="alphas"):
        expand_grid(SMOKE_RECIPE, [], [0], "smoke")


def test_distillation_grid_is_the_studys_runs():
    from lsbook.experiments.distillation_grid import SETUPS

    grid = distillation_grid("fcn-fmnist", [0.0, 0.3], [0], "smoke", temperatures=[1.0, 2.0])
    teachers = [s for s in grid if s.teacher_key is None and s.keep_model]
    students = [s for s in grid if s.teacher_key is not None]
    # M1 teachers α ∈ {0, 0.3} + Table 4's α = 0.1 teacher + the dropout teacher; M2 baselines (2);
    # students: M3 at T ∈ {1, 2} from α = 0, M4 from α = 0.3 at T = 1, Table 4's two.
    assert len(teachers) == 4 and len(grid) - len(teachers) - len(students) == 2 and len(students) == 5
    position = {s.key: i for i, s in enumerate(grid)}
    assert {s.teacher_key for s in students} <= {t.key for t in teachers}
    assert all(position[s.teacher_key] < position[s.key] for s in students)  # teachers first
    setup = SETUPS["fcn-fmnist"]
    assert all(s.config.distillation.loss == setup.distill_loss and s.config.distillation.beta == setup.beta
               and s.store_gamma for s in students)
    assert all(s.config.alpha == 0.0 for s in students)
    keys = [s.key for s in grid]
    assert len(set(keys)) == len(grid)  # every run distinct: teachers never share a key
    with pytest.raises(LsbookError, match="unknown distillation setup"):
        distillation_grid("nosuch", [0.0], [0], "smoke")


# --- Status --------------------------------------------------------------------------------------

def test_grid_status_stored_running_failed_missing(stores):
    store = Store()
    specs = expand_grid(SMOKE_RECIPE, [0.0, 0.1, 0.2, 0.3], [0], "smoke")
    stored_key = put_fake_record(store, specs[0])
    keys = [s.key for s in specs]
    failed_result = stores / "logs" / "7_0_0_result.pkl"
    failed_result.parent.mkdir()
    with open(failed_result, "wb") as handle:
        pickle.dump(("error", "Traceback (most recent call last):\n  ...\nValueError: boom"), handle)
    journal = Journal(stores / "logs")
    journal.add([
        {"key": keys[1], "job_id": "7_1", "stderr": "log-1.err", "result": str(stores / "none.pkl")},
        {"key": keys[2], "job_id": "7_0", "stderr": "log-2.err", "result": str(failed_result)},
    ])
    statuses = cluster.grid_status(specs, store, journal, queued={"7_1": "RUNNING"})
    assert [s.state for s in statuses] == [STORED, RUNNING, FAILED, MISSING]
    assert statuses[0].key == stored_key
    assert statuses[2].error == "ValueError: boom" and statuses[2].log == "log-2.err"
    text = cluster.format_status(statuses)
    assert "log-2.err" in text and "ValueError: boom" in text
    assert text.splitlines()[-1] == "4 runs: 1 stored, 1 running, 1 failed, 1 missing"


def test_teacher_without_weights_is_not_stored(stores):
    store = Store()
    teacher = grid_run(0.1, keep_model=True)
    put_fake_record(store, teacher)  # a record, but no model.pt: a student could not learn from it
    status = cluster.grid_status([teacher], store)[0]
    assert status.state == MISSING and "without the weights" in status.error


# --- Submission (fake SLURM) ---------------------------------------------------------------------

def test_sweep_submits_missing_runs_as_one_array(stores, fake_slurm):
    store = Store()
    put_fake_record(store, grid_run(0.0))
    args = sweep_args(SMOKE_RECIPE, "--alphas", "0", "0.1", "0.2", "0.3", "--profile", "smoke",
                      "--executor", "slurm", "--partition", "debug", "--time", "1:30:00",
                      "--cpus-per-task", "2", "--gpus-per-task", "1", "--mem", "8G", "--max-parallel", "2")
    assert cluster.run_sweep(args) == 0
    scripts = submitted_scripts(fake_slurm)
    assert len(scripts) == 1  # three missing runs: one array of three tasks
    script = scripts[0]
    for flag in ("--array=0-2%2", "--partition=debug", "--time=90", "--cpus-per-task=2",
                 "--gpus-per-task=1", "--mem=8G", "--job-name=lsbook"):
        assert f"#SBATCH {flag}\n" in script, flag
    entries = Journal(cluster.default_log_dir(store.root)).latest()
    assert sorted(e["job_id"] for e in entries.values()) == ["101_0", "101_1", "101_2"]

    # Submitted again while the array is queued: nothing new is submitted.
    (fake_slurm / "queue").write_text("101_0 RUNNING\n101_1 PENDING\n101_2 PENDING\n")
    assert cluster.run_sweep(args) == 0
    assert len(submitted_scripts(fake_slurm)) == 1


def test_students_wait_for_their_teachers(stores, fake_slurm):
    store = Store()
    grid = distillation_grid("fcn-fmnist", [0.0, 0.3], [0], "smoke", temperatures=[1.0, 2.0])
    statuses = cluster.grid_status(grid, store)
    submitted = cluster.submit_grid(statuses, cluster.SlurmOptions(), store_root=store.root,
                                    runs_root=stores / "runs", log_dir=stores / "logs")
    assert len(submitted) == len(grid)
    scripts = submitted_scripts(fake_slurm)
    first = [s for s in grid if s.teacher_key is None]
    assert "--dependency" not in scripts[0] and f"#SBATCH --array=0-{len(first) - 1}%{len(first)}" in scripts[0]
    teacher_jobs = {s.key: submitted[s.key] for s in first}
    assert all(job.startswith("101_") for job in teacher_jobs.values())
    # Then one array per teacher that has students, depending on that teacher's array task.
    wanted = sorted({"afterok:" + teacher_jobs[s.teacher_key] for s in grid if s.teacher_key is not None})
    dependencies = sorted(re.search(r"--dependency=(\S+)", s).group(1) for s in scripts[1:])
    assert dependencies == wanted
    assert all("--kill-on-invalid-dep=yes" in s for s in scripts[1:])

    # Students of a stored teacher do not wait.
    (fake_slurm / "count").write_text("200")
    teacher = next(s for s in grid if s.teacher_key is None and s.config.alpha == 0.3)
    statuses = [cluster.RunStatus(s, s.key, STORED if s is teacher else MISSING) for s in grid
                if s is teacher or s.teacher_key == teacher.key]
    cluster.submit_grid(statuses, cluster.SlurmOptions(), store_root=store.root, runs_root=stores / "runs",
                        log_dir=stores / "logs2")
    assert all("--dependency" not in s for s in submitted_scripts(fake_slurm)[len(scripts):])


@pytest.mark.parametrize("argv, message", [
    (["--executor", "kubernetes"], "unknown executor 'kubernetes'; allowed: local, slurm"),
    (["--executor", "slurm", "--max-parallel", "0"], "--max-parallel must be an integer >= 1"),
    (["--executor", "slurm", "--partition", "nosuch"], "--partition 'nosuch' is not a partition"),
    (["--executor", "slurm", "--time", "soon"], "--time 'soon' is not a SLURM time"),
])
def test_bad_input_is_one_line_and_submits_nothing(stores, fake_slurm, capsys, monkeypatch, argv, message):
    import lsbook.cli

    status = lsbook.cli.main(["sweep", SMOKE_RECIPE, "--alphas", "0", "0.1", "--profile", "smoke", *argv])
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err
    assert submitted_scripts(fake_slurm) == []
    assert not (stores / "results").exists()


def test_dry_run_prints_the_grid_and_submits_nothing(stores, fake_slurm, capsys):
    put_fake_record(Store(), grid_run(0.1))
    args = sweep_args(SMOKE_RECIPE, "--alphas", "0", "0.1", "--profile", "smoke", "--executor", "slurm",
                      "--dry-run")
    assert cluster.run_sweep(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"^missing .*alpha=0 seed=0", out, re.M)
    assert re.search(r"^stored .*alpha=0.1 seed=0", out, re.M)
    assert out.strip().endswith("2 runs: 1 stored, 0 running, 0 failed, 1 missing")
    assert submitted_scripts(fake_slurm) == []


def test_local_executor_is_the_local_sweep(stores, monkeypatch):
    import lsbook.cluster.sweep as cluster_sweep
    import lsbook.sweep

    calls = []
    monkeypatch.setattr(cluster_sweep, "run_locally", lambda specs, store, **kw: calls.append((specs, kw))
                        or lsbook.sweep.SweepOutcome(trained=list(specs)))
    args = sweep_args(SMOKE_RECIPE, "--alphas", "0", "0.1", "--profile", "smoke", "--jobs", "2")
    assert args.executor == "local"
    assert cluster.run_sweep(args) == 0
    [(specs, kwargs)] = calls
    assert [s.config.alpha for s in specs] == [0.0, 0.1] and kwargs["jobs"] == 2


def test_distillation_sweep_dry_run(stores, capsys):
    args = sweep_args("fcn-fmnist", "--distillation", "--alphas", "0", "0.3", "--temperatures", "1", "2",
                      "--profile", "smoke", "--dry-run")
    assert cluster.run_sweep(args) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("11 runs: 0 stored, 0 running, 0 failed, 11 missing")
    assert "fcn-fmnist-student [smoke] alpha=0 seed=0 <- fcn-fmnist alpha=0 at T=2" in out
    with pytest.raises(LsbookError, match="--temperatures needs --distillation"):
        cluster.run_sweep(sweep_args(SMOKE_RECIPE, "--alphas", "0", "--temperatures", "2", "--dry-run"))
    with pytest.raises(LsbookError, match="alphas must include 0"):
        cluster.run_sweep(sweep_args("fcn-fmnist", "--distillation", "--alphas", "0.1", "--dry-run"))


# --- Chapters for a list of α --------------------------------------------------------------------

def chapter_args(*argv: str) -> argparse.Namespace:
    from lsbook.cli import build_parser

    return build_parser().parse_args(["chapter-sweep", *argv])


def test_chapter_sweep_is_one_array_task_per_alpha(tmp_path, fake_slurm):
    args = chapter_args("calibration", "--alphas", "0", "0.1", "0.2", "-p", "profile", "paper",
                        "--output-dir", str(tmp_path / "out"), "--executor", "slurm", "--gpus-per-task", "1")
    assert run_chapter_sweep(args) == 0
    scripts = submitted_scripts(fake_slurm)
    assert len(scripts) == 1 and "#SBATCH --array=0-2%3\n" in scripts[0]
    assert "#SBATCH --job-name=lsbook-calibration\n" in scripts[0]
    assert "#SBATCH --gpus-per-task=1\n" in scripts[0]
    task = ChapterTask("calibration", str(tmp_path / "out"), [("profile", "paper")])
    assert task.chapter_parameters(0.1) == {"profile": "paper", "alphas": [0.1]}
    assert task.notebook(0.1) == tmp_path / "out" / "calibration-alpha0.1.ipynb"


def test_chapter_sweep_locally_keeps_one_notebook_per_alpha(tmp_path, monkeypatch, capsys):
    import lsbook.book.execute

    def fake_run_chapter(name, parameters, output, **kwargs):  # papermill's part is lsbook.book.execute'
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(repr(parameters))
        return Path(output)

    monkeypatch.setattr(lsbook.book.execute, "run_chapter", fake_run_chapter)
    out = tmp_path / "out"
    args = chapter_args("calibration", "--alphas", "0", "0.3", "-p", "profile", "smoke", "--output-dir", str(out))
    assert run_chapter_sweep(args) == 0
    assert sorted(p.name for p in out.iterdir()) == ["calibration-alpha0.3.ipynb", "calibration-alpha0.ipynb"]
    assert (out / "calibration-alpha0.3.ipynb").read_text() == repr({"profile": "smoke", "alphas": [0.3]})
    dry = chapter_args("calibration", "--alphas", "0", "0.5", "--output-dir", str(out), "--dry-run")
    assert run_chapter_sweep(dry) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("done") and lines[-1].startswith("missing")


@pytest.mark.parametrize("argv, message", [
    (["calibration", "--alphas", "1.5"], "alpha must be in"),
    (["calibration", "--alphas", "0", "-p", "alpha", "0.2"], "-p alpha"),
    (["nosuch", "--alphas", "0"], "unknown chapter 'nosuch'"),
    (["intro", "--alphas", "0"], "has no parameter 'alphas'"),
    (["calibration", "--alphas", "0", "--executor", "slurm", "--max-parallel", "0"], "--max-parallel"),
])
def test_chapter_sweep_bad_input_submits_nothing(fake_slurm, argv, message):
    with pytest.raises(LsbookError, match=re.escape(message)):
        run_chapter_sweep(chapter_args(*argv))
    assert submitted_scripts(fake_slurm) == []


# --- A real SLURM ---------------------------------------------------------------------------------

def test_slurm_fixture_says_why_it_skips(monkeypatch):
    monkeypatch.setattr(slurm_fixture.os, "geteuid", lambda: 1000)
    assert "needs root" in slurm_fixture.missing_requirement()
    monkeypatch.setattr(slurm_fixture.os, "geteuid", lambda: 0)
    monkeypatch.setattr(slurm_fixture.shutil, "which", lambda name: None if name == "slurmd" else "/usr/bin/x")
    assert "slurm-wlm/munge not installed (missing slurmd)" in slurm_fixture.missing_requirement()


def _wait(condition, timeout_s: float, what: str, poll_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@pytest.mark.parametrize("argv, message", [
    (["--partition", "gpu-nonexistent"], "not a partition of this SLURM cluster (partitions: debug)"),
    (["--gpus-per-task", "1"], "sbatch rejected the submission: "),  # the test node has no GPU
])
@pytest.mark.slow
def test_slurm_rejected_submission_submits_nothing(slurm_cluster, stores, capsys, argv, message):
    args = sweep_args(SMOKE_RECIPE, "--alphas", "0", "0.1", "--profile", "smoke", "--executor", "slurm", *argv)
    with pytest.raises(LsbookError, match=re.escape(message)) as error:
        cluster.run_sweep(args)
    assert "\n" not in str(error.value)
    assert capsys.readouterr().err == ""
    assert slurm_cluster.command("squeue", "-h").strip() == ""
    assert not (stores / "results").exists()


@pytest.mark.slow
def test_slurm_sweep_array_cancel_and_resume(slurm_cluster, stores):
    """A smoke sweep as an array lands in the store; a cancelled task resumes."""
    store = Store()
    # Long enough that a cancel after its first epoch lands mid-run even on an idle machine: 20
    # epochs of 8192 synthetic examples (the 512 of plain smoke finished before scancel once).
    long_run = grid_run(0.2, overrides={"epochs": 20, "train_subset": 8192})
    specs = [long_run] + expand_grid(SMOKE_RECIPE, [0.0, 0.1], [0], "smoke")
    # A task that fails: a student whose teacher is not in the store (and not in the grid).
    absent_teacher = RunConfig.of(SMOKE_RECIPE, 0.3, 0, "smoke")
    orphan = grid_run(0.0, teacher=absent_teacher, distill_temperature=2.0)
    args = sweep_args(SMOKE_RECIPE, "--alphas", "0", "--profile", "smoke", "--executor", "slurm",
                      "--cpus-per-task", "1", "--time", "10")
    began = time.monotonic()
    assert cluster.run_sweep(args, specs=specs + [orphan]) == 0
    journal = Journal(cluster.default_log_dir(store.root))
    jobs = {key: entry["job_id"] for key, entry in journal.latest().items()}
    keys = [s.key for s in specs]
    assert sorted(jobs) == sorted(keys + [orphan.key])
    assert len({jobs[k].split("_")[0] for k in keys}) == 1  # the three runs: one array

    # Cancel the long run once it has written a checkpoint (at least one epoch done).
    checkpoint = stores / "runs" / keys[0] / "checkpoint.pt"
    _wait(checkpoint.exists, 120, f"the first checkpoint {checkpoint}")
    slurm_cluster.command("scancel", jobs[keys[0]])
    cluster.wait_for(jobs.values(), poll_s=1, timeout_s=120)
    statuses = cluster.grid_status(specs + [orphan], store, journal, cluster.queued_jobs())
    assert [s.state for s in statuses] == [MISSING, STORED, STORED, FAILED], cluster.format_status(statuses)
    assert "is not in the store" in statuses[3].error and Path(statuses[3].log).is_file()

    # Submitting the sweep again submits only the cancelled run, which resumes from its checkpoint.
    args.wait = True
    assert cluster.run_sweep(args, specs=specs) == 0
    resubmitted = Journal(cluster.default_log_dir(store.root)).latest()[keys[0]]["job_id"]
    assert resubmitted != jobs[keys[0]]
    assert all(Journal(cluster.default_log_dir(store.root)).latest()[k]["job_id"] == jobs[k] for k in keys[1:])
    records = [store.get(s.key) for s in specs]
    assert all(r is not None for r in records)
    assert records[0].provenance["resumes"] >= 1  # trained partly before the cancel, partly after
    assert [h["epoch"] for h in records[0].metrics["history"]] == list(range(1, 21))
    assert all(r.provenance["resumes"] == 0 for r in records[1:])
    print(f"SLURM sweep with cancel and resume: {time.monotonic() - began:.0f} s")


@pytest.mark.slow
def test_slurm_chapter_sweep_keeps_one_notebook_per_alpha(slurm_cluster, tmp_path, capsys):
    """A chapter for an α list as array tasks (papermill), one notebook per α."""
    out = tmp_path / "executed"
    args = chapter_args("label_smoothing", "--alphas", "0", "0.2", "-p", "profile", "smoke",
                        "--output-dir", str(out), "--executor", "slurm", "--time", "10", "--wait")
    assert run_chapter_sweep(args) == 0
    assert "2 of 2 alpha(s) executed" in capsys.readouterr().out
    notebooks = sorted(out.glob("*.ipynb"))
    assert [p.name for p in notebooks] == ["label_smoothing-alpha0.2.ipynb", "label_smoothing-alpha0.ipynb"]
    import nbformat

    executed = nbformat.read(notebooks[0], as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(injected) == 1 and "alphas = [0.2]" in injected[0].source
