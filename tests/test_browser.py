"""The built book in a real headless browser (Debian's chromium driven by Playwright).

Every page of the smoke build is served by a local http.server and opened; the test fails on a
JavaScript error (uncaught exception or console error), an image that is missing or did not load
(naturalWidth 0), an unresolved glue key or other MyST/docutils error markup, and an internal
link to a page or anchor that does not exist. The machine may be offline: requests to other
hosts (MathJax's CDN) are answered with an empty 200 response so that they cannot fail, and the
test checks that no host other than the expected CDN is contacted.
"""

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
EXPECTED_EXTERNAL_HOSTS = {"cdn.jsdelivr.net"}  # MathJax (Sphinx's default mathjax_path)

pytestmark = [pytest.mark.book, pytest.mark.slow]


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


def check_page(page, base: str, html: Path, relative: str, external: set[str]) -> list[str]:
    """Open one page and return what is wrong with it."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    page.on("console", lambda message: problems.append(f"console error: {message.text}")
            if message.type == "error" else None)
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))
    page.on("response", lambda response: problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)

    def route(request_route):
        url = request_route.request.url
        if url.startswith(base):
            request_route.continue_()
        else:
            external.add(urlparse(url).hostname or url)
            request_route.fulfill(status=200, body="", content_type="text/plain")

    page.route("**/*", route)
    page.goto(base + relative, wait_until="load")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.evaluate("""Promise.all([...document.images].map(img => img.complete ? null :
                     new Promise(done => { img.onload = img.onerror = done; })))""")
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


def test_every_page_loads_cleanly_in_chromium(served_book):
    html, base, sync_playwright = served_book
    pages = pages_of(html)
    assert "book/intro.html" in pages and "book/calibration.html" in pages
    assert 'url=book/intro.html' in (html / "index.html").read_text()  # the redirect to the first page
    external: set[str] = set()
    report: dict[str, list[str]] = {}
    images = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for relative in pages:
                page = browser.new_page()
                problems = check_page(page, base, html, relative, external)
                images += page.locator("img").count()
                page.close()
                if problems:
                    report[relative] = problems
        finally:
            browser.close()
    assert not report, "\n".join(f"{p}:\n  " + "\n  ".join(v) for p, v in report.items())
    assert images > 0, "no page shows an image"
    assert external <= EXPECTED_EXTERNAL_HOSTS, f"unexpected external requests: {external}"


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
    (folder / "other.html").write_text('<html><body><p id="here">other</p></body></html>')
    (folder / "page.html").write_text(
        '<html><body><p id="top">text {glue:text}`missing_key` more</p>'
        '<img src="absent.png"><span class="problematic">:ref:`nowhere`</span>'
        '<a href="other.html#here">fine</a><a href="other.html#gone">bad anchor</a>'
        '<a href="missing.html">bad page</a><a href="#top">fine</a>'
        '<script>throw new Error("boom")</script></body></html>')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            problems = check_page(browser.new_page(), base, folder, "page.html", set())
            clean = check_page(browser.new_page(), base, folder, "other.html", set())
        finally:
            browser.close()
    text = "\n".join(problems)
    for expected in ("JavaScript error: boom", "image not loaded", "HTTP 404", "unresolved glue",
                     ".problematic", "no anchor #gone", "no file missing.html"):
        assert expected in text, f"{expected!r} not reported in:\n{text}"
    assert "other.html#here" not in text and "#top" not in text
    assert clean == []
