"""Templates, their filters, and the one way a panel route renders a page."""

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from vpsorg import __version__
from vpsorg.accounts.logins import Viewer

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")


def money(value: Decimal | float | int | str | None, places: int = 2) -> str:
    """$1,234.56; a negative amount as -$1.50."""
    if value is None:
        return "—"
    amount = Decimal(str(value))
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount):,.{places}f}"


def signed_money(value: Decimal) -> str:
    """A difference: +$24.00, −$12.00 (a minus sign), $0.00."""
    if value > 0:
        return "+" + money(value)
    if value < 0:
        return "−" + money(-value)
    return money(value)


def when(value: datetime | None) -> str:
    """A time as the panel shows it: UTC, to the minute."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    return "" if value is None else value.isoformat()


def url(request: Request, path: str) -> str:
    """A path of this panel, under the prefix VPSORG_PUBLIC_URL gives (its root_path)."""
    return f"{request.scope.get('root_path', '')}{path}"


templates.env.filters.update(money=money, signed_money=signed_money, when=when, iso=iso)
templates.env.globals.update(version=__version__)


def render(
    request: Request,
    name: str,
    viewer: Viewer | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page (or, for htmx, a fragment) with what every template may use: the request, the
    viewer (None on the login page) and `url`."""
    context |= {"viewer": viewer, "url": lambda path: url(request, path)}
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=headers)
