"""Errors on panel pages: a page in words, never the API's JSON."""

from fastapi import Request
from fastapi.responses import HTMLResponse

from vpsorg.web.security import is_panel_path
from vpsorg.web.templating import render

TITLES = {
    400: "That did not work",
    401: "Please log in",
    402: "Not enough credit",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Changed meanwhile",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Unavailable",
}


def wants_html(request: Request) -> bool:
    """A browser asking for a panel page (API clients keep their JSON errors everywhere)."""
    root = request.scope.get("root_path", "")
    return is_panel_path(request.url.path.removeprefix(root)) and "text/html" in request.headers.get(
        "accept", ""
    )


def html_error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> HTMLResponse:
    title = TITLES.get(status, "That did not work")
    return render(request, "error.html", status_code=status, headers=headers, title=title, message=message)
