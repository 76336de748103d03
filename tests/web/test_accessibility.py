"""The accessibility checks catch what they are for, on small pages served from loopback with
the strict Content-Security-Policy the panel sends."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Error, Page

from tests.web.harness import assert_accessible, assert_keyboard_operable

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'"

STYLE = """
.bare, .bare:focus-visible { outline: none; }
.shadow { transition: box-shadow 2s; }  /* judged once the transition ends */
.shadow:focus-visible { outline: none; box-shadow: 0 0 0 3px #000; }
.card input { position: absolute; opacity: 0; }
.card:focus-within { outline: 2px solid #000; }
"""


def doc(body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fixture</title>'
        '<link rel="stylesheet" href="/style.css"></head>'
        f"<body><main><h1>Fixture</h1>{body}</main></body></html>"
    )


PAGES = {
    "/style.css": ("text/css", STYLE),
    "/dot.svg": ("image/svg+xml", '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'),
    "/clean": (
        "text/html",
        doc(
            '<img src="/dot.svg" alt="Status: running"><a href="/other">Other page</a>'
            '<form><label for="email">Email</label><input id="email" type="email" autofocus>'
            "<fieldset><legend>Plan</legend>"
            '<label class="card"><input type="radio" name="plan" value="s" checked> Small</label>'
            '<label class="card"><input type="radio" name="plan" value="l"> Large</label></fieldset>'
            '<label><input type="checkbox" name="backups"> Backups</label>'
            '<label for="os">System</label><select id="os"><option>Debian</option></select>'
            '<label for="note">Note</label><textarea id="note"></textarea>'
            '<button class="shadow">Create</button></form>'
            # Not controls Tab must reach: disabled, hidden, focused from script, polling.
            "<button disabled>Later</button><button hidden>Gone</button>"
            '<div tabindex="-1">Skipped</div><div hx-get="/status" hx-trigger="every 2s">Status</div>'
        ),
    ),
    "/image-without-alt": ("text/html", doc('<img src="/dot.svg">')),
    "/field-without-label": ("text/html", doc('<form><input name="hostname"><button>Save</button></form>')),
    "/clickable-divs": (
        "text/html",
        doc(
            "<button>Reboot</button>"
            '<div onclick="destroy()">Delete</div>'
            '<div hx-post="/servers/1/stop">Stop</div>'
            '<div hx-get="/status" hx-trigger="every 2s">Status</div>'
        ),
    ),
    "/no-focus-style": (
        "text/html",
        doc(
            '<button class="bare">Bare</button><a class="bare" href="/x">Bare link</a><button>Plain</button>'
        ),
    ),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        kind, body = PAGES.get(self.path, ("text/plain", "not found"))
        self.send_response(200 if self.path in PAGES else 404)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_fixture_pages_enforce_the_panels_csp(page: Page, site: str) -> None:
    """What assert_accessible must work under: an injected inline script is refused."""
    page.goto(f"{site}/clean")
    with pytest.raises(Error, match="Content Security Policy"):
        page.add_script_tag(content="window.injected = 1")
    assert page.evaluate("typeof window.injected") == "undefined"


def test_a_clean_page_passes_axe_under_the_csp(page: Page, site: str) -> None:
    page.goto(f"{site}/clean")
    assert_accessible(page)
    assert_accessible(page)  # again on the same document: axe is injected once
    assert page.evaluate("axe.version") == "4.14.1"


@pytest.mark.parametrize(
    ("path", "rule", "target"),
    [("/image-without-alt", "image-alt", "img"), ("/field-without-label", "label", "input")],
)
def test_axe_fails_listing_each_serious_violation(
    page: Page, site: str, path: str, rule: str, target: str
) -> None:
    page.goto(site + path)
    with pytest.raises(AssertionError) as failed:
        assert_accessible(page)
    message = str(failed.value)
    assert message.startswith(f"axe-core: 1 serious or critical violation(s) on {site}{path}:")
    assert f"\n- {rule} (critical): " in message
    assert f"\n    {target}: <{target} " in message


def test_tab_reaches_every_control_once_in_order(page: Page, site: str) -> None:
    page.goto(f"{site}/clean")
    assert page.evaluate("document.activeElement.id") == "email"  # Tab starts from the top all the same
    assert assert_keyboard_operable(page) == [
        'a[href="/other"] "Other page"',
        'input#email[type="email"]',
        'input[name="plan"][type="radio"]',  # one stop for the group, styled by its label
        'input[name="backups"][type="checkbox"]',
        'select#os "Debian"',
        "textarea#note",
        'button "Create"',
    ]


def test_clickable_divs_are_not_reached_where_a_button_is(page: Page, site: str) -> None:
    page.goto(f"{site}/clickable-divs")
    with pytest.raises(AssertionError) as failed:
        assert_keyboard_operable(page)
    assert str(failed.value).splitlines()[1:] == [
        '- not reached by Tab: div[onclick="destroy()"] "Delete"',
        '- not reached by Tab: div[hx-post="/servers/1/stop"] "Stop"',
    ]


def test_a_control_without_a_focus_indicator_fails(page: Page, site: str) -> None:
    page.goto(f"{site}/no-focus-style")
    with pytest.raises(AssertionError) as failed:
        assert_keyboard_operable(page)
    assert str(failed.value).splitlines()[1:] == [
        '- no visible focus: button "Bare"',
        '- no visible focus: a[href="/x"] "Bare link"',
    ]
