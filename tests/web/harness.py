"""The browser tests' harness: Debian's Chromium under Playwright, failure screenshots, and
the accessibility checks every panel page must pass (axe-core, and the keyboard).

`VPSORG_TEST_BROWSER` decides what happens without Chromium: unset, the browser tests are
skipped and say why; `required` (CI) turns a missing browser into a failure; `0` skips them.
`VPSORG_TEST_CHROMIUM` names another Chromium binary (default: Debian's /usr/bin/chromium).
"""

import functools
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize

HERE = Path(__file__).resolve().parent
AXE = HERE / "vendor" / "axe-core-4.14.1.min.js"
KEYBOARD = HERE / "keyboard.js"

TIMEOUT_MS = 15_000  # a loaded two-core CI machine, not a slow page
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}
# Headless, and nothing but the pages under test on the network: no sandbox (CI runs as
# root), no GPU, no QUIC, and none of the browser's own calls home (updates, sync, metrics).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # /dev/shm is small in containers; Chromium crashes there
]
SEVERE = ("serious", "critical")


def chromium_executable() -> str:
    return os.environ.get("VPSORG_TEST_CHROMIUM") or "/usr/bin/chromium"


def missing(executable: str) -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which(executable) is None:
        return f"no Chromium at {executable} (Debian: apt-get install chromium; or set VPSORG_TEST_CHROMIUM)"
    return None


def require(why: str | None, skipped: str) -> None:
    """Skip (`skipped`: what, and why) or fail as VPSORG_TEST_BROWSER says, when `why`."""
    mode = os.environ.get("VPSORG_TEST_BROWSER", "")
    if mode == "0":
        pytest.skip("VPSORG_TEST_BROWSER=0")
    if why and mode == "required":
        pytest.fail(f"VPSORG_TEST_BROWSER=required, but {why}")
    if why:
        pytest.skip(skipped.format(why=why))


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A context of its own (cookies, storage, cache: nothing is shared with another test's)."""
    context = browser.new_context(viewport=VIEWPORT, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def artifacts_dir(rootpath: Path) -> Path:
    """Where failing tests leave what shows why: $VPSORG_TEST_ARTIFACTS, or .artifacts/."""
    return Path(os.environ.get("VPSORG_TEST_ARTIFACTS") or rootpath / ".artifacts")


def screenshot(page: Page, directory: Path, name: str) -> str:
    """A full-page PNG of `page` in `directory`, named after `name`; a line that says where."""
    path = directory / "screenshots" / (re.sub(r"[^\w.-]+", "_", name).strip("_")[:200] + ".png")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=path, full_page=True, timeout=TIMEOUT_MS)
    except Exception as e:  # the page may have crashed or closed: say so, keep the failure
        return f"no screenshot of {page.url}: {e}"
    return f"{path} ({page.url})"


def watch_console(page: Page) -> list[str]:
    """The page's console errors and warnings and its uncaught exceptions, as they come
    (a CSP refusal is one), to show with a failure."""
    lines: list[str] = []
    page.on(
        "console",
        lambda m: lines.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: lines.append(f"uncaught: {e}"))
    return lines


@functools.cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def assert_accessible(page: Page) -> None:
    """Run axe-core on the page as it is now; fail listing every serious or critical violation.

    axe goes in through page.evaluate (the DevTools protocol), which the page's CSP does not
    govern: the panel's `script-src 'self'` refuses add_script_tag's inline script, and
    bypass_csp would test the pages without the policy they ship with."""
    if page.evaluate("() => typeof window.axe") != "object":
        page.evaluate(axe_source() + "\n;undefined")
    violations = page.evaluate(
        """severe => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
            .filter(v => severe.includes(v.impact))
            .map(v => ({id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
                        nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html}))})))""",
        list(SEVERE),
    )
    if violations:
        lines = [f"axe-core: {len(violations)} serious or critical violation(s) on {page.url}:"]
        for v in violations:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['url']}>")
            lines.extend(f"    {n['target']}: {n['html'][:160]}" for n in v["nodes"])
        raise AssertionError("\n".join(lines))


def assert_keyboard_operable(page: Page, max_presses: int | None = None) -> list[str]:
    """Tab through the page; fail unless every visible control is reached and looks focused.

    A control is what keyboard.js's INTERACTIVE lists (links, buttons, fields, [tabindex],
    [onclick], ARIA widget roles, htmx click targets); one radio button per group is a Tab
    stop. "Looks focused": a computed outline, box-shadow, colour, border or underline of the
    element, its parent or its label differs from its unfocused look. Tabbing stops once every
    control was reached, once it comes round to a control again, or after `max_presses`
    (default twice the controls, plus 20). Returns the controls in the order Tab reached them.
    """
    page.evaluate(KEYBOARD.read_text(encoding="utf-8"))
    controls: list[dict[str, Any]] = page.evaluate("() => window.__vpsorgKeyboard.collect()")
    stops = [c["group"] or f"#{i}" for i, c in enumerate(controls)]  # what Tab must reach
    reached: set[str] = set()
    unseen: list[str] = []  # reached, but no visible focus
    order: list[str] = []
    for _ in range(max_presses or 2 * len(controls) + 20):
        if reached >= set(stops):
            break
        page.keyboard.press("Tab")
        now = page.evaluate("() => window.__vpsorgKeyboard.current()")
        if now["index"] < 0:  # the document itself, or something not counted as a control
            continue
        stop = stops[now["index"]]
        if stop in reached:  # round the page once
            break
        reached.add(stop)
        order.append(now["description"])
        if not now["visible"]:
            unseen.append(now["description"])
    unreachable = [c["description"] for c, stop in zip(controls, stops, strict=True) if stop not in reached]
    problems = [f"- not reached by Tab: {d}" for d in unreachable]
    problems += [f"- no visible focus: {d}" for d in unseen]
    if problems:
        raise AssertionError(f"keyboard: {len(problems)} problem(s) on {page.url}:\n" + "\n".join(problems))
    return order
