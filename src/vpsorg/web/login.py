"""Logging in and out, and where `/` leads."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from vpsorg.accounts import logins
from vpsorg.deps import Session
from vpsorg.web import auth
from vpsorg.web.templating import render, url

router = APIRouter(include_in_schema=False)

WRONG = "Wrong email or password."


@router.get("/")
async def home(request: Request, session: Session) -> Response:
    secret = request.cookies.get(auth.COOKIE)
    signed_in = secret is not None and await logins.viewer(session, secret=secret) is not None
    return RedirectResponse(url(request, "/servers/" if signed_in else "/login"), status_code=303)


def _login_page(
    request: Request, *, error: str | None = None, email: str = "", status: int = 200
) -> Response:
    csrf = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    page = render(
        request,
        "login.html",
        status_code=status,
        csrf_token=csrf,
        error=error,
        email=email,
        next=auth.safe_next(request.query_params.get("next")),
    )
    page.set_cookie(
        auth.LOGIN_CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="lax",
        secure=auth.cookie_secure(request),
        path=url(request, "/login"),
    )
    return page


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login", response_model=None)
async def login(
    request: Request,
    session: Session,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=logins.MAX_PASSWORD)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/servers/",
) -> Response:
    if not auth.same(csrf_token, request.cookies.get(auth.LOGIN_CSRF_COOKIE)):
        return _login_page(request, error="The form expired; please try again.", email=email, status=403)
    wait = await auth.login_allowed(request, email)
    if wait is not None:
        page = _login_page(
            request, error=f"Too many attempts; try again in {wait} seconds.", email=email, status=429
        )
        page.headers["Retry-After"] = str(wait)
        return page
    account_id = await logins.verify_login(session, email=email, password=password)
    if account_id is None:
        return _login_page(request, error=WRONG, email=email, status=401)
    secret = await logins.open_session(
        session, account_id=account_id, previous=request.cookies.get(auth.COOKIE)
    )
    done = RedirectResponse(url(request, auth.safe_next(next)), status_code=303)
    done.set_cookie(
        auth.COOKIE,
        secret,
        max_age=logins.SESSION_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=auth.cookie_secure(request),
        path=url(request, "/") or "/",
    )
    done.delete_cookie(auth.LOGIN_CSRF_COOKIE, path=url(request, "/login"))
    return done


@router.post("/logout")
async def logout(request: Request, session: Session, viewer: auth.SignedIn) -> Response:
    secret = request.cookies.get(auth.COOKIE)
    if secret:
        await logins.close_session(session, secret=secret)
    done = RedirectResponse(url(request, "/login"), status_code=303)
    done.delete_cookie(auth.COOKIE, path=url(request, "/") or "/")
    return done


def login_redirect(request: Request, exc: auth.LoginRequired) -> Response:
    """Where LoginRequired leads: the login page; for htmx, a full-page redirect to it."""
    target = url(request, auth.login_url(exc.next_path))
    if request.headers.get("HX-Request"):
        return HTMLResponse("", status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)
