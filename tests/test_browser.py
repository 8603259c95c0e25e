"""The built book in a real headless browser (Debian's chromium driven by Playwright), offline.

Every page of the smoke build is served by a local http.server and opened at a 1280 × 900
viewport with every request to another host blocked (and reported): the book must not need the
network. The test fails on
- a JavaScript error (uncaught exception or console error) or a failed or blocked request;
- a formula that MathJax did not render: raw TeX (``\\(``, ``\\[``, ``$$``, a TeX command) left in
  the text of the page, or a maths element without MathJax's output, or a TeX error;
- a table, figure, image or displayed formula wider than the text column, unless it scrolls
  inside a container that fits the column (clipping is an error, a scroll bar is not);
- an image that is missing or did not load (naturalWidth 0), an unresolved glue key or other
  MyST/docutils error markup, and an internal link to a page or anchor that does not exist.

On a 390 × 844 phone screen no page may be wider than the screen (wide tables scroll inside their
container), the ledger's verdict column must be on the screen without scrolling sideways, and the
smoke build's ledger must give no verdict: a claim is never confirmed or contradicted on smoke runs.
"""

import contextlib
import functools
import http.server
import re
import socketserver
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

from test_book_smoke import build_smoke_book

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}  # a laptop screen: the theme shows both sidebars
PHONE = {"width": 390, "height": 844}      # a phone screen
# The text column of the book theme; a test page without it is measured against its <body>.
COLUMN = "article.bd-article"
# Raw TeX that MathJax should have replaced: \( \) \[ \] $$, $...$ and TeX commands such as \frac.
RAW_TEX = re.compile(r"\\[()\[\]]|\$\$|(?<![\w$])\$(?=\S)[^$\n]{1,200}(?<=\S)\$(?!\w)|\\[A-Za-z]{2,}")

# Text of the page outside code, scripts and MathJax's own output (where TeX may legitimately stand).
PROSE_TEXT_JS = """() => {
  const copy = document.body.cloneNode(true);
  copy.querySelectorAll("pre, code, script, style, mjx-container, .highlight, textarea")
      .forEach(e => e.remove());
  return copy.textContent;
}"""

# Maths elements (Sphinx's span.math / div.math) that MathJax left without output, and TeX errors.
MATHS_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
  const maths = [...document.querySelectorAll(".math")];
  return {maths: maths.length, rendered: document.querySelectorAll("mjx-container").length,
          missing: maths.filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.slice(0, 60)),
          errors: [...document.querySelectorAll("mjx-merror")].map(e => e.textContent.slice(0, 60))};
}"""

# Tables, figures, images and displayed formulas wider than the text column. An element inside a
# container that scrolls horizontally is measured by that container (a scroll bar is fine); one
# inside a container that hides its overflow is clipped.
LAYOUT_JS = """(column) => {
  const col = document.querySelector(column) || document.body;
  const bounds = col.getBoundingClientRect();
  const problems = [];
  const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
    (e.tagName === "IMG" ? " " + e.getAttribute("src") : "") +
    (e.querySelector && e.querySelector("caption") ? " '" + e.querySelector("caption").textContent.trim().slice(0, 50) + "'" : "");
  for (const e of col.querySelectorAll("table, figure, img, mjx-container[display='true']")) {
    if (!e.getClientRects().length) continue;  // not displayed (e.g. a collapsed cell)
    let box = e.getBoundingClientRect(), clipped = null;
    for (let a = e.parentElement; a && a !== col; a = a.parentElement) {
      const overflow = getComputedStyle(a).overflowX;
      if (overflow === "auto" || overflow === "scroll") { box = a.getBoundingClientRect(); break; }
      if ((overflow === "hidden" || overflow === "clip") && a.scrollWidth > a.clientWidth + 1) { clipped = a; break; }
    }
    if (clipped) {
      problems.push(`${name(e)} is clipped: its container shows ${clipped.clientWidth} of ${clipped.scrollWidth} px`);
    } else if (box.right > bounds.right + 1 || box.left < bounds.left - 1) {
      problems.push(`${name(e)} overflows the text column: ${Math.round(box.left)}–${Math.round(box.right)} px, ` +
                    `column ${Math.round(bounds.left)}–${Math.round(bounds.right)} px`);
    }
  }
  return problems;
}"""

pytestmark = [pytest.mark.book, pytest.mark.slow]


@contextlib.contextmanager
def chromium(sync_playwright):
    """Debian's chromium, headless, for the length of a ``with`` block."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed")
    return sync_playwright


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def served_book(tmp_path_factory):
    sync_playwright = _playwright()
    html = build_smoke_book(tmp_path_factory)
    server = socketserver.TCPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield html, f"http://127.0.0.1:{server.server_address[1]}/", sync_playwright
    finally:
        server.shutdown()
        server.server_close()


def pages_of(html: Path) -> list[str]:
    """Every page of the build, except the root index.html (a redirect to the first chapter)."""
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html") if "_static" not in p.parts
                  and "_sources" not in p.parts and str(p.relative_to(html)) != "index.html")


def anchors_of(path: Path) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))


def check_page(page, base: str, html: Path, relative: str, stats: dict[str, int] | None = None) -> list[str]:
    """Open one page with the network blocked and return what is wrong with it.

    ``stats`` (if given) counts the maths elements found and rendered, across pages.
    """
    problems: list[str] = []
    blocked: set[str] = set()
    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    page.on("console", lambda message: problems.append(f"console error: {message.text}")
            if message.type == "error" else None)
    page.on("requestfailed", lambda request: None if request.url in blocked
            else problems.append(f"request failed: {request.url}"))
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)

    def route(request_route):
        url = request_route.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:")):
            request_route.continue_()
        else:
            blocked.add(url)
            problems.append(f"request to another host (blocked): {url}")
            request_route.abort()

    page.set_viewport_size(VIEWPORT)
    page.route("**/*", route)
    page.goto(base + relative, wait_until="load")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.evaluate("""Promise.all([...document.images].map(img => img.complete ? null :
                     new Promise(done => { img.onload = img.onerror = done; })))""")
    maths = page.evaluate(MATHS_JS)
    page.wait_for_timeout(200)

    for src, width in page.eval_on_selector_all("img", "els => els.map(e => [e.src, e.naturalWidth])"):
        if width == 0:
            problems.append(f"image not loaded: {src}")
    text = page.inner_text("body")
    for marker in re.findall(r"\{glue(?::\w*)?\}`?[\w-]*`?", text):
        problems.append(f"unresolved glue: {marker}")
    for selector in (".problematic", ".system-message", "div.error"):
        count = page.locator(selector).count()
        if count:
            problems.append(f"{count} element(s) {selector}: {page.locator(selector).first.inner_text()[:120]}")

    for raw in sorted(set(RAW_TEX.findall(page.evaluate(PROSE_TEXT_JS))))[:5]:
        problems.append(f"raw TeX in the text: {raw!r}")
    for formula in maths["missing"][:5]:
        problems.append(f"formula not rendered by MathJax: {formula!r}")
    for formula in maths["errors"][:5]:
        problems.append(f"TeX error in a formula: {formula!r}")
    if stats is not None:
        stats["maths"] = stats.get("maths", 0) + maths["maths"]
        stats["rendered"] = stats.get("rendered", 0) + maths["rendered"]
    problems.extend(page.evaluate(LAYOUT_JS, COLUMN))

    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        if re.match(r"^(https?:|mailto:|javascript:|data:)", href) or href in ("#", ""):
            continue
        target = urlparse(urljoin(base + relative, href))
        if not (target.scheme + "://" + target.netloc + "/").startswith(base.rstrip("/") + "/"):
            continue
        path = html / unquote(target.path.lstrip("/"))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            problems.append(f"broken link {href!r}: no file {path.relative_to(html)}")
        elif target.fragment and path.suffix == ".html" and unquote(target.fragment) not in anchors_of(path):
            problems.append(f"broken link {href!r}: no anchor #{target.fragment}")
    return problems


# On a phone: how much wider than the screen the page is, and where the ledger's verdict column ends.
PHONE_JS = """() => ({
  width: document.documentElement.scrollWidth,
  widest: [...document.querySelectorAll("article.bd-article *")]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
            && !e.closest(".pst-scrollable-table-container, .cell_output, .highlight, mjx-container, table"))
    .slice(0, 3).map(e => e.tagName.toLowerCase() + ": " + (e.textContent || "").slice(0, 50)),
  verdicts: [...document.querySelectorAll("table.ledger-table")].map(t => {
    const head = t.querySelector("th:nth-child(2)");
    return {right: head ? head.getBoundingClientRect().right : 0,
            cells: [...t.querySelectorAll("tbody td:nth-child(2)")].map(c => c.textContent.trim())};
  }),
})"""


def phone_problems(page, base: str, relative: str, smoke: bool) -> list[str]:
    """What is wrong with one page on a phone screen (see the module docstring)."""
    page.set_viewport_size(PHONE)
    page.goto(base + relative, wait_until="load")
    found = page.evaluate(PHONE_JS)
    problems = []
    if found["width"] > PHONE["width"]:
        problems.append(f"{found['width']} px wide on a {PHONE['width']}-px phone: {found['widest']}")
    for table in found["verdicts"]:
        if table["right"] > PHONE["width"]:
            problems.append(f"the ledger's verdict column ends at {table['right']:.0f} px, off a {PHONE['width']}-px screen")
        judged = sorted({c for c in table["cells"] if c in ("confirmed", "contradicted")})
        if smoke and judged:
            problems.append(f"a verdict on smoke runs: {', '.join(judged)}")
    return problems


def test_every_page_fits_a_phone_and_smoke_gives_no_verdict(served_book):
    html, base, sync_playwright = served_book
    report = {}
    with chromium(sync_playwright) as browser:
        for relative in pages_of(html):
            page = browser.new_page()
            problems = phone_problems(page, base, relative, smoke=True)
            page.close()
            if problems:
                report[relative] = problems
    assert not report, "\n".join(f"{p}:\n  " + "\n  ".join(v) for p, v in report.items())
    assert "ledger-table" in (html / "book" / "what_was_found.html").read_text()   # the check saw the ledger


def test_the_phone_check_catches_a_wide_page_a_hidden_verdict_and_a_smoke_verdict(served_folder):
    sync_playwright = _playwright()
    folder, base = served_folder
    (folder / "wide.html").write_text(
        '<html><head><meta name="viewport" content="width=device-width"></head><body>'
        '<article class="bd-article"><p><code>lsbook.losses.a_very_long_identifier_that_never_breaks_'
        'at_all_on_a_small_screen_of_a_phone</code></p>'
        '<table class="ledger-table"><thead><tr><th style="min-width: 500px">claim</th><th>verdict</th></tr></thead>'
        '<tbody><tr><td>raises accuracy</td><td>confirmed</td></tr></tbody></table></article></body></html>')
    (folder / "fine.html").write_text(
        '<html><head><meta name="viewport" content="width=device-width"></head><body>'
        '<article class="bd-article"><p>short</p><table class="ledger-table"><thead><tr><th>claim</th>'
        '<th>verdict</th></tr></thead><tbody><tr><td>x</td><td>inconclusive</td></tr></tbody></table>'
        '</article></body></html>')
    with chromium(sync_playwright) as browser:
        problems = "\n".join(phone_problems(browser.new_page(), base, "wide.html", smoke=True))
        fine = phone_problems(browser.new_page(), base, "fine.html", smoke=True)
    for expected in ("px wide on a 390-px phone", "verdict column ends at", "a verdict on smoke runs: confirmed"):
        assert expected in problems, f"{expected!r} not reported in:\n{problems}"
    assert fine == []


def test_every_page_loads_cleanly_in_chromium(served_book):
    html, base, sync_playwright = served_book
    pages = pages_of(html)
    assert "book/intro.html" in pages and "book/calibration.html" in pages
    assert 'url=book/intro.html' in (html / "index.html").read_text()  # the redirect to the first page
    assert (html / "_static" / "mathjax" / "tex-chtml-full.js").is_file()  # MathJax is served by the build
    report: dict[str, list[str]] = {}
    stats: dict[str, int] = {}
    images = tables = 0
    with chromium(sync_playwright) as browser:
        for relative in pages:
            page = browser.new_page()
            problems = check_page(page, base, html, relative, stats)
            images += page.locator("img").count()
            tables += page.locator("table").count()
            page.close()
            if problems:
                report[relative] = problems
    assert not report, "\n".join(f"{p}:\n  " + "\n  ".join(v) for p, v in report.items())
    assert images > 0 and tables > 0, "no page shows an image or a table"
    assert stats["maths"] > 20 and stats["rendered"] >= stats["maths"], stats  # the book has maths, rendered


@pytest.fixture
def served_folder(tmp_path):
    server = socketserver.TCPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_the_checker_catches_each_kind_of_fault(served_folder):
    """A tiny site with one of every fault: the checker must report all of them."""
    sync_playwright = _playwright()
    folder, base = served_folder
    (folder / "other.html").write_text(
        '<html><body><article class="bd-article" style="width: 600px"><p id="here">other</p>'
        '<div style="overflow-x: auto"><table id="scrolls" style="width: 900px"><tr><td>wide, scrolls</td></tr>'
        '</table></div><img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" style="width: 100%">'
        '<p>$5 and <code>$LSBOOK_PROFILE</code> and <code>\\(x\\)</code></p></article></body></html>')
    (folder / "page.html").write_text(
        '<html><body><article class="bd-article" style="width: 600px">'
        '<p id="top">text {glue:text}`missing_key` more</p>'
        '<img src="absent.png"><span class="problematic">:ref:`nowhere`</span>'
        '<a href="other.html#here">fine</a><a href="other.html#gone">bad anchor</a>'
        '<a href="missing.html">bad page</a><a href="#top">fine</a>'
        '<p>maths: <span class="math">\\(x^2\\)</span> and $y$ and \\frac{1}{2}</p>'
        '<table id="wide" style="width: 900px"><tr><td>too wide</td></tr></table>'
        '<div style="overflow: hidden"><table id="cut" style="width: 900px"><tr><td>cut</td></tr></table></div>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" style="width: 800px; height: 10px">'
        '<script src="http://example.invalid/cdn.js"></script>'
        '<script>console.error("logged"); throw new Error("boom")</script></article></body></html>')
    with chromium(sync_playwright) as browser:
        problems = check_page(browser.new_page(), base, folder, "page.html")
        clean = check_page(browser.new_page(), base, folder, "other.html")
    text = "\n".join(problems)
    for expected in ("JavaScript error: boom", "console error: logged", "image not loaded", "HTTP 404",
                     "unresolved glue", ".problematic", "no anchor #gone", "no file missing.html",
                     "request to another host (blocked): http://example.invalid/cdn.js",
                     "raw TeX in the text: '\\\\('", "raw TeX in the text: '$y$'", "raw TeX in the text: '\\\\frac'",
                     "formula not rendered by MathJax: '\\\\(x^2\\\\)'",
                     "table#wide overflows the text column", "table#cut is clipped", "img data:image/gif"):
        assert expected in text, f"{expected!r} not reported in:\n{text}"
    assert "other.html#here" not in text and "#top" not in text
    assert clean == [], clean  # a table that scrolls inside the column, code with TeX or $ signs


# --- A chapter in JupyterLab ---------------------------------------------------------------------------

# MyST that JupyterLab's plain Markdown renderer leaves as text: a role, a label, a directive fence.
RAW_MYST = re.compile(r"\{(?:glue(?::\w+)?|cite|ref|numref|doc|eq)\}|^\([\w-]+\)=(?=\s*$)|```\{", re.MULTILINE)


def jupyterlab_markdown(chapter: str, tmp_path: Path, *, myst: bool = True) -> list[str]:
    """The rendered text of every Markdown cell of ``chapter`` (converted to a notebook, as
    `chapter run` does) opened in JupyterLab in the headless browser, offline; ``myst`` False disables
    the jupyterlab-myst extension (the planted fault: JupyterLab's own renderer)."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    import jupytext

    sync_playwright = _playwright()
    root = tmp_path / ("myst" if myst else "plain")
    (root / ".config" / "labconfig").mkdir(parents=True)
    if not myst:
        (root / ".config" / "labconfig" / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {"jupyterlab-myst": True}}))
    settings = root / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)     # every cell rendered, not only those in view
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    jupytext.write(jupytext.read(Path(__file__).parents[1] / "book" / f"{chapter}.md"), root / f"{chapter}.ipynb",
                   fmt="ipynb")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.root_dir={root}", "--IdentityProvider.token=", "--ServerApp.password=", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "JUPYTER_CONFIG_DIR": str(root / ".config"),
             "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings")})
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        with chromium(sync_playwright) as browser:
            page = browser.new_page()
            page.set_viewport_size(VIEWPORT)
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                f"http://127.0.0.1:{port}") or route.request.url.startswith("data:") else route.abort())
            page.goto(f"http://127.0.0.1:{port}/lab/tree/{chapter}.ipynb")
            page.wait_for_selector(".jp-MarkdownCell", timeout=120_000)
            page.wait_for_timeout(3000)
            return page.eval_on_selector_all(".jp-MarkdownCell .jp-Cell-inputWrapper",
                                             "els => els.map(e => e.innerText)")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_jupyterlab_renders_a_chapters_myst(tmp_path):
    """M8: with jupyterlab-myst (installed by the set-up) a chapter's roles, labels and directives
    render; with the extension disabled, the same check finds them raw."""
    rendered = jupyterlab_markdown("label_smoothing", tmp_path)
    assert len(rendered) > 3 and any("What label smoothing is" in text for text in rendered)
    raw = sorted({m.group(0) for text in rendered for m in RAW_MYST.finditer(text)})
    assert not raw, f"raw MyST in JupyterLab: {raw}"
    plain = jupyterlab_markdown("label_smoothing", tmp_path, myst=False)
    assert {m.group(0) for text in plain for m in RAW_MYST.finditer(text)} >= {"(chapter-label-smoothing)=",
                                                                               "{glue:text}"}
