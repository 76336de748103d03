"""Browser fixtures: one headless Chromium per test process (each pytest-xdist worker starts
its own, on first use), a new context and page per test, and on a failure a screenshot of
every page the test holds plus the page's console. See tests/web/README.md.

Playwright's sync API runs its event loop on a greenlet of its own and, between its calls,
leaves that loop marked as running in this thread, where asyncio.run() then refuses to
start. The mark is set only while a test that uses the browser runs (`browser` sets and
lifts it), so the tests this process runs after it are unaffected; within such a test,
tests/conftest.py's run_db (and `no_running_loop` around other asyncio.run callers) lifts it.
"""

import asyncio
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.web import harness

CONSOLE = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class Chromium:
    browser: Browser
    loop: asyncio.AbstractEventLoop  # Playwright's


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary the tests drive; skips or fails (VPSORG_TEST_BROWSER) without one."""
    executable = harness.chromium_executable()
    harness.require(harness.missing(executable), "browser tests skipped: {why}")
    return executable


@pytest.fixture(scope="session")
def chromium_process(chromium: str) -> Iterator[Chromium]:
    # Playwright gives the browser a temporary profile (--user-data-dir, removed at close) and
    # every context an off-the-record one: tests share the process, never cookies or storage.
    expect.set_options(timeout=harness.TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=harness.CHROMIUM_ARGS
        )
        running = Chromium(browser, asyncio.get_running_loop())
        asyncio._set_running_loop(None)
        yield running
        asyncio._set_running_loop(running.loop)
        browser.close()


@pytest.fixture
def browser(chromium_process: Chromium) -> Iterator[Browser]:
    """This process's Chromium, for one test (with Playwright's loop marked, see above)."""
    asyncio._set_running_loop(chromium_process.loop)
    try:
        yield chromium_process.browser
    finally:
        asyncio._set_running_loop(None)


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = harness.new_context(browser)
    page = context.new_page()
    request.node.stash[CONSOLE] = harness.watch_console(page)
    yield page
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's pages, as they were when it failed (before its fixtures close them)."""
    report = yield
    if report.when == "call" and report.failed:
        pages = {
            name: value
            for name, value in getattr(item, "funcargs", {}).items()
            if isinstance(value, Page) and not value.is_closed()
        }
        directory = harness.artifacts_dir(item.config.rootpath)
        for name, page in pages.items():
            label = item.nodeid if name == "page" else f"{item.nodeid}-{name}"
            report.sections.append((f"screenshot ({name})", harness.screenshot(page, directory, label)))
        console = item.stash.get(CONSOLE, [])
        if console:
            report.sections.append(("browser console", "\n".join(console)))
    return report
