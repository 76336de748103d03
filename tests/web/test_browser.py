"""The browser fixtures: a page per test in a context of its own, and a screenshot on failure."""

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import Live
from tests.web import harness

ROOT = Path(__file__).resolve().parents[2]

INNER = """
def test_passes(page):
    page.set_content("<h1>fine</h1>")


def test_fails(page):
    page.set_content("<title>Inner</title><h1 style='height: 2000px'>about to fail</h1>")
    page.evaluate("console.error('inner console line')")
    assert page.title() == "not this one"


def test_asyncio_runs_after_a_browser_test():
    import asyncio

    assert asyncio.run(asyncio.sleep(0, "ran")) == "ran"
"""


def test_page_is_a_fresh_context_of_the_session_browser(browser: Browser, page: Page) -> None:
    assert page.context.browser is browser
    assert page.viewport_size == {"width": 1280, "height": 900}
    assert page.context.cookies() == []
    assert page.evaluate("navigator.userAgent").count("HeadlessChrome/") == 1


def test_a_browser_test_serves_itself_from_the_live_app_and_its_database(page: Page, live: Live) -> None:
    page.goto(f"{live.url}/healthz")
    assert page.locator("body").inner_text() == '{"status":"ok"}'
    customer = live.account()  # asyncio.run() between two browser calls (run_db)
    answer = page.request.get(
        f"{live.url}/api/v1/servers/", headers={"Authorization": f"Bearer {customer.token}"}
    )
    assert answer.status == 200 and answer.json()["results"] == []


def test_contexts_share_no_cookies_or_storage(browser: Browser) -> None:
    first, second = harness.new_context(browser), harness.new_context(browser)
    try:
        url = "http://127.0.0.1:9/"  # never fetched: a cookie for it is set directly
        first.add_cookies([{"name": "session", "value": "secret", "url": url}])
        assert [c["name"] for c in first.cookies(url)] == ["session"]
        assert second.cookies(url) == []
    finally:
        first.close()
        second.close()


def test_a_failing_test_leaves_a_full_page_png_and_says_where(chromium: str, tmp_path: Path) -> None:
    """A pytest of its own over two tests using `page` and one after them: the failing one
    leaves a PNG, whose path its failure report prints with the page's console; the passing
    one leaves none; asyncio.run() works in the test after them."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(INNER)
    artifacts = tmp_path / "artifacts"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env |= {"VPSORG_TEST_ARTIFACTS": str(artifacts), "VPSORG_TEST_CHROMIUM": chromium}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.web.conftest", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=ROOT,  # where `tests` imports from
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 2 passed" in done.stdout, done.stdout
    shots = list((artifacts / "screenshots").iterdir())
    assert [p.name for p in shots] == ["test_inner.py_test_fails.png"]
    png = shots[0].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert width == 1280 and height > 2000  # the whole page, not the 900 pixels of the viewport
    assert "screenshot (page)" in done.stdout and str(shots[0]) in done.stdout, done.stdout
    assert "error: inner console line" in done.stdout, done.stdout


@pytest.mark.parametrize(
    ("mode", "why", "outcome"),
    [
        ("", "no Chromium at /nowhere", "skipped"),
        ("required", "no Chromium at /nowhere", "failed"),
        ("0", None, "skipped"),
        ("required", None, "passed"),
    ],
)
def test_without_chromium_the_tests_skip_unless_required(
    monkeypatch: pytest.MonkeyPatch, mode: str, why: str | None, outcome: str
) -> None:
    monkeypatch.setenv("VPSORG_TEST_BROWSER", mode)
    try:
        harness.require(why, "browser tests skipped: {why}")
    except pytest.skip.Exception as e:
        assert outcome == "skipped", e.msg
        assert (why or "VPSORG_TEST_BROWSER=0") in e.msg
    except pytest.fail.Exception as e:
        assert outcome == "failed", e.msg
        assert e.msg == f"VPSORG_TEST_BROWSER=required, but {why}"
    else:
        assert outcome == "passed"


def test_missing_names_a_chromium_that_is_not_there(chromium: str) -> None:
    assert harness.missing(chromium) is None
    assert harness.missing("/nowhere/chromium") == (
        "no Chromium at /nowhere/chromium (Debian: apt-get install chromium; or set VPSORG_TEST_CHROMIUM)"
    )


def test_ci_installs_chromium_and_requires_the_browser_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"\npackages=\([^)]*\bchromium\b[^)]*\)", ci)
    assert re.search(r"\n[^\n#]*VPSORG_TEST_BROWSER=required [^\n]*make test\n", ci)
