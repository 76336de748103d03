"""Who is looking at a panel page: the session cookie, CSRF checks, and the login limit."""

import hashlib
import hmac
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from vpsorg.accounts import logins
from vpsorg.accounts.logins import Viewer
from vpsorg.deps import Session, get_state
from vpsorg.errors import AppError, Forbidden

COOKIE = "vpsorg_session"
# The login form has no session yet: its CSRF token is a cookie the form echoes (double submit).
LOGIN_CSRF_COOKIE = "vpsorg_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class LoginRequired(Exception):
    """No live session: the browser goes to the login page (and back here after it)."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class CsrfFailed(AppError):
    """A form or htmx request without this session's CSRF token (code csrf_failed)."""

    status_code = 403
    code = "csrf_failed"


def cookie_secure(request: Request) -> bool:
    """Secure cookies when the panel is served over https (VPSORG_PUBLIC_URL says so)."""
    public = get_state(request).settings.public_url
    return bool(public and public.startswith("https://"))


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def sent_csrf(request: Request) -> str | None:
    """The CSRF token a request carries: the htmx header, else the form's field."""
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def get_viewer(request: Request, session: Session) -> Viewer:
    """The session's account; none: LoginRequired. Unsafe methods must carry its CSRF token."""
    secret = request.cookies.get(COOKIE)
    found = await logins.viewer(session, secret=secret) if secret else None
    if found is None:
        if request.method != "GET":  # back to a page, not to a form's target
            raise LoginRequired("/")
        query = f"?{request.url.query}" if request.url.query else ""
        raise LoginRequired(request.url.path.removeprefix(request.scope.get("root_path", "")) + query)
    if request.method in UNSAFE and not same(await sent_csrf(request), found.csrf_token):
        raise CsrfFailed("The form was not sent by this session's page; reload the page and try again")
    return found


SignedIn = Annotated[Viewer, Depends(get_viewer)]


async def get_operator(viewer: SignedIn) -> Viewer:
    if not viewer.is_admin:
        raise Forbidden("These pages are for operators only")
    return viewer


Operator = Annotated[Viewer, Depends(get_operator)]


def login_url(next_path: str) -> str:
    return "/login" if next_path in ("", "/") else f"/login?next={quote(next_path, safe='/')}"


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path of this site only (never another host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/servers/"
    return value


async def login_allowed(request: Request, email: str) -> int | None:
    """Count a login attempt per email and per client address (VPSORG_LOGIN_RATE_LIMIT, in
    the API limiter's storage): None if allowed, else the seconds to wait."""
    limiter = get_state(request).login_limiter
    who = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    address = request.client.host if request.client else "unknown"
    wait = 0
    for key in (f"login-email:{who}", f"login-ip:{address}"):
        counted = await limiter.hit(key)
        if counted is not None and not counted[0]:
            wait = max(wait, counted[2], 1)
    return wait or None
