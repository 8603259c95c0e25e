"""The chapters as notebooks: structure, parameters, glue keys, and `python -m lsbook chapter`."""

import re

import nbformat
import pytest
import yaml

from lsbook import cli
from lsbook.book import execute as chapters
from lsbook.book.settings import CHAPTERS, PROFILE_ONLY_CHAPTERS
from lsbook.errors import LsbookError

NAMES = chapters.chapter_names()


def test_every_toc_entry_is_a_file_and_the_chapters_are_notebooks():
    toc = yaml.safe_load(chapters.TOC_FILE.read_text())
    files = [toc["root"]] + [c["file"] for p in toc["parts"] for c in p["chapters"]]
    for entry in files:
        assert (chapters.REPO_ROOT / f"{entry}.md").is_file(), entry
    assert NAMES[:4] == ["intro", "what_was_found", "label_smoothing", "accuracy"]
    assert {"penultimate", "calibration", "transformer", "distillation", "mutual_information",
            "what_was_run"} <= set(NAMES)


def test_the_book_trains_before_any_page_executes():
    """The build trains every run the chapters show first (``runs ensure --book``), so no page depends
    on the order in which Sphinx executes them (alphabetical) and the introduction is never stale."""
    script = (chapters.REPO_ROOT / "scripts" / "build_book.sh").read_text()
    ensure, build = script.index("runs ensure --book"), script.index("jb build")
    assert ensure < build
    function = chapters.build_book.__code__.co_names
    assert "ensure_book_runs" in function and "count_records" in function


@pytest.mark.parametrize("name", NAMES)
def test_chapter_has_one_documented_parameters_cell(name):
    parameters = chapters.chapter_parameters(name)
    assert "profile" in parameters
    for key, info in parameters.items():
        assert info["help"], f"{name}: parameter {key} has no comment"
    text = chapters.chapter_path(name).read_text()
    parameters_cell = text.index(":tags: [parameters]")
    assert parameters_cell < len(text) // 2 + 2000, f"{name}: the parameters cell should be near the top"
    if name not in ("intro", "what_was_run"):  # every parameter is explained in the prose above it
        prose = text[:parameters_cell]
        for key in parameters:
            assert f"`{key}`" in prose, f"{name}: parameter {key} is not documented in the prose"


@pytest.mark.parametrize("name", NAMES)
def test_every_chapter_resolves_its_parameters_with_chapter_settings(name):
    # One place decides a chapter's profile and the defaults of its other parameters.
    code = "\n".join(c.source for c in chapters.read_chapter(name).cells if c.cell_type == "code")
    called = re.findall(r"\bchapter_settings\(\s*[\"']([\w-]+)[\"']", code)
    assert len(called) == 1 and called[0] in (*CHAPTERS, *PROFILE_ONLY_CHAPTERS), f"{name}: {called}"
    assert called[0].replace("-", "_") == name
    assert "resolve_profile" not in code


@pytest.mark.parametrize("name", NAMES)
def test_every_glue_key_used_in_the_text_is_glued_by_a_code_cell(name):
    notebook = chapters.read_chapter(name)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    text = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    glued = set(re.findall(r"\bglue(?:_markdown)?\(\s*[\"']([\w-]+)[\"']", code))
    used = {m.split(":")[0] for m in re.findall(r"\{glue(?::\w*)?\}`([^`]+)`", text)}
    assert used <= glued, f"{name}: glue keys used but never glued: {sorted(used - glued)}"
    # A computed sentence is also a cell output for notebook readers, who see the raw role.
    sentences = set(re.findall(r"\{glue:md\}`([\w-]+)`", text))
    shown = set(re.findall(r"\bglue_markdown\(\s*[\"']([\w-]+)[\"']", code))
    assert sentences <= shown, (f"{name}: glue these with pages.glue_markdown, not glue(..., display=False): "
                                f"{sorted(sentences - shown)}")


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_has_alt_text_that_says_what_it_shows(name):
    """L5: myst-nb gives a figure's <img> the alt text of the cell's ``mystnb: image: alt:``
    (render_image_options, cell key "image"); without it the alt text is the image's file path."""
    for cell in chapters.read_chapter(name).cells:
        mystnb = cell.metadata.get("mystnb", {}) if cell.cell_type == "code" else {}
        if "figure" not in mystnb:
            continue
        figure = mystnb["figure"]["name"]
        alt = mystnb.get("image", {}).get("alt", "")
        assert len(alt.split()) >= 12, f"{name}: {figure} has no alt text that describes it: {alt!r}"
        assert not re.search(r"\.(png|svg|jpe?g)\b|_images|\.\./", alt), f"{name}: {figure}'s alt text looks like a path"
        assert " - " not in alt and not re.search(r"\w- \w", alt), f"{name}: {figure}'s alt text has a broken word"


@pytest.mark.parametrize("name", NAMES)
def test_widget_cells_run_only_in_jupyterlab(name):
    # nbclient (the book build and papermill) skips cells tagged skip-execution: widgets only make
    # sense with a live frontend, and executing them headless can hang nbclient (jupyter/nbclient#312)
    notebook = chapters.read_chapter(name)
    for cell in notebook.cells:
        if cell.cell_type == "code" and "widgets.interact" in cell.source:
            tags = cell.metadata.get("tags", [])
            assert {"remove-output", "skip-execution"} <= set(tags), f"{name}: widget cell tags {tags}"


def test_parse_parameters_reads_yaml_and_singular_keys():
    values = chapters.parse_parameters("accuracy", [("alphas", "[0.1]"), ("profile", "smoke"),
                                                    ("seeds", "[0, 1]"), ("train", "false"),
                                                    ("recipe", "fcn-fmnist")])
    assert values == {"alphas": [0.1], "profile": "smoke", "seeds": [0, 1], "train": False,
                      "recipes": ["fcn-fmnist"]}
    with pytest.raises(LsbookError, match="no parameter 'colour'.*profile"):
        chapters.parse_parameters("accuracy", [("colour", "red")])
    with pytest.raises(LsbookError, match="unknown chapter"):
        chapters.parse_parameters("preface", [])


def test_one_more_alpha_joins_the_grid_and_its_baseline():
    from lsbook.book.settings import CHAPTERS
    from lsbook.profiles import chapter_defaults

    assert set(chapters.RUN_CHAPTERS) == set(CHAPTERS)
    grid = chapter_defaults("cpu", "accuracy")["alphas"]
    values = chapters.parse_parameters("accuracy", [("alpha", "0.2"), ("profile", "cpu")])
    assert values["alphas"] == sorted({0.0, 0.2, *grid})            # α = 0.2 beside the grid, never instead
    assert chapters.parse_parameters("mutual_information", [("alpha", "0.2")])["alphas"] == [0.0, 0.2]
    assert chapters.parse_parameters("label_smoothing", [("alpha", "0.25")])["alphas"] == [0.25]  # no runs there


def test_bad_parameter_values_fail_before_any_cell_runs(capsys):
    for key, value, message in (("alpha", "abc", "alpha must be a number in [0, 1), got 'abc'"),
                                ("seeds", "[-1]", "seed"), ("recipe", "fcn-cifar", "recipe")):
        assert cli.main(["chapter", "run", "accuracy", "-p", key, value]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_a_chapter_run_writes_new_runs_beside_links_to_the_committed_ones(tmp_path, monkeypatch):
    from lsbook.store import Store
    from tests.test_claims import put_run

    committed = Store(tmp_path / "results")
    record = put_run(committed, "fcn-fmnist", 0.0, 0, accuracy=0.8, profile="paper")
    committed.put_derived(record, "smoothness-T1.0", {"gamma": 0.1})
    monkeypatch.setenv("LSBOOK_RESULTS", str(committed.root))
    mirror = Store(chapters.user_store(tmp_path / "user"))
    seen = mirror.get(record.key)
    assert seen is not None and mirror.derived(seen, "smoothness-T1.0") == {"gamma": 0.1}
    before = sorted((p.name, p.stat().st_size) for p in committed.root.rglob("*") if p.is_file())
    mirror.put_derived(seen, "smoothness-T1.0", {"gamma": 0.5})            # derived again: in the mirror only
    put_run(mirror, "fcn-fmnist", 0.2, 0, accuracy=0.8, profile="paper")   # a new run: in the mirror only
    assert sorted((p.name, p.stat().st_size) for p in committed.root.rglob("*") if p.is_file()) == before
    assert committed.derived(record, "smoothness-T1.0") == {"gamma": 0.1}
    assert len(mirror.folders()) == 2 and len(committed.folders()) == 1


def test_default_output_names_the_parameters():
    path = chapters.default_output("accuracy", {"profile": "smoke", "alphas": [0.1]})
    assert path.parent == chapters.DEFAULT_OUTPUT_DIR
    assert path.name == "accuracy-alphas=0.1_profile=smoke.ipynb"


def test_chapter_list_prints_every_chapter(capsys):
    assert cli.main(["chapter", "list"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        assert f"{name}: " in out
    assert "alphas = None" in out


def test_chapter_run_reports_a_bad_parameter_on_one_line(capsys):
    assert cli.main(["chapter", "run", "accuracy", "-p", "colour", "red"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: chapter 'accuracy' has no parameter 'colour'")


@pytest.mark.slow
def test_chapter_run_injects_parameters_and_writes_the_executed_notebook(tmp_path, capsys):
    output = tmp_path / "ls.ipynb"
    status = cli.main(["chapter", "run", "label_smoothing", "-p", "alpha", "0.25", "-p", "num_classes", "4",
                       "-o", str(output), "--quiet"])
    assert status == 0 and capsys.readouterr().out.strip() == str(output)
    notebook = nbformat.read(output, as_version=4)
    injected = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "alphas = [0.25]" in injected[0].source
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code if "skip-execution" not in c.metadata.get("tags", []))
    assert not any(c.get("execution_count") for c in code if "skip-execution" in c.metadata.get("tags", []))
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    glued = {o.metadata["scrapbook"]["name"]: o for c in notebook.cells if c.cell_type == "code"
             for o in c.outputs if "scrapbook" in o.get("metadata", {})}
    assert glued["ls_example_k"].data["application/papermill.record/text/plain"] == "4"
