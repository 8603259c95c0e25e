"""Publishing: the GitHub Pages workflow (checked by actionlint) and scripts/publish.sh (ghp-import)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW = REPO / ".github" / "workflows" / "book.yml"
PUBLISH = REPO / "scripts" / "publish.sh"


def actionlint() -> str | None:
    """The actionlint that requirements.txt installs (beside this Python), else one on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.is_file() else shutil.which("actionlint")


def run_actionlint(path: Path) -> subprocess.CompletedProcess:
    tool = actionlint()
    if tool is None:
        pytest.skip("actionlint is not installed (bash scripts/setup.sh installs it from requirements.txt)")
    # shellcheck and pyflakes, where a machine has them, would add checks that differ by machine.
    return subprocess.run([tool, "-no-color", "-shellcheck=", "-pyflakes=", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_the_book_workflow_passes_actionlint():
    done = run_actionlint(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_reports_a_fault_planted_in_the_workflow(tmp_path):
    # The check above can fail: the same workflow with a misspelt job name and a step id that
    # does not exist is rejected, with both faults named.
    text = WORKFLOW.read_text()
    assert "needs: build" in text and "steps.deployment.outputs.page_url" in text
    planted = tmp_path / "book.yml"
    planted.write_text(text.replace("needs: build", "needs: biuld")
                       .replace("steps.deployment.outputs", "steps.deploy.outputs"))
    done = run_actionlint(planted)
    assert done.returncode == 1, done.stdout + done.stderr
    assert '"biuld"' in done.stdout and '"deploy"' in done.stdout


def test_the_workflow_builds_with_the_readme_command_and_deploys_with_the_pages_actions():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["push"]["branches"] == ["main"] and "workflow_dispatch" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    runs = [step.get("run", "") for step in build["steps"]]
    assert "bash scripts/build_book.sh" in runs  # the README's command, so the same book
    assert not any(" train " in run or " sweep " in run for run in runs)  # it reads the committed runs
    upload = [step for step in build["steps"] if step.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert [step["with"]["path"] for step in upload] == ["_build/html"]
    assert deploy["needs"] == "build"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    used = [step["uses"].split("@")[0] for step in deploy["steps"]]
    assert used == ["actions/configure-pages", "actions/deploy-pages"]


def test_publish_script_prints_its_usage():
    done = subprocess.run(["bash", str(PUBLISH), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("usage: bash scripts/publish.sh")
    done = subprocess.run(["bash", str(PUBLISH), "--no-such-flag"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and done.stderr.startswith("usage: ")


@pytest.fixture
def checkout(tmp_path):
    """A copy of publish.sh in a bare tree whose build_book.sh and ghp-import only record their calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(PUBLISH, tmp_path / "scripts" / "publish.sh")
    (tmp_path / "scripts" / "build_book.sh").write_text(
        "echo build >> calls\nmkdir -p _build/html _build/latex\n"
        "echo '<html></html>' > _build/html/index.html\necho pdf > _build/latex/lsbook.pdf\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    stub = tmp_path / ".venv" / "bin" / "ghp-import"
    stub.write_text('#!/usr/bin/env bash\necho "ghp-import $*" >> calls\n')
    stub.chmod(0o755)
    return tmp_path


def publish(tree: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(tree / "scripts" / "publish.sh"), *arguments], capture_output=True,
                          text=True, timeout=30, env={**os.environ, "PATH": "/usr/bin:/bin"})


def calls(tree: Path) -> list[str]:
    return (tree / "calls").read_text().splitlines() if (tree / "calls").exists() else []


def test_publish_script_builds_when_nothing_is_built_then_pushes_with_ghp_import(checkout):
    done = publish(checkout)
    assert done.returncode == 0, done.stderr
    assert calls(checkout) == ["build", "ghp-import -n -p -f _build/html"]
    assert (checkout / "_build" / "html" / "lsbook.pdf").is_file()  # the PDF beside the HTML


def test_publish_script_reuses_a_built_book(checkout):
    (checkout / "_build" / "html").mkdir(parents=True)
    (checkout / "_build" / "html" / "index.html").write_text("<html></html>")
    done = publish(checkout)
    assert done.returncode == 0, done.stderr
    assert calls(checkout) == ["ghp-import -n -p -f _build/html"]


def test_publish_script_with_skip_build_refuses_to_publish_nothing(checkout):
    done = publish(checkout, "--skip-build")
    assert done.returncode == 1 and "_build/html/index.html is missing" in done.stderr
    assert calls(checkout) == []
