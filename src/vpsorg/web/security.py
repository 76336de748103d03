"""Security headers on every panel response (pages and their static files).

A strict Content-Security-Policy: scripts, styles, images and connections from this origin
only, no inline script or style, no plugins, no framing; forms post only here. The API's
routes and its documentation pages (Swagger UI and ReDoc run inline scripts) are left alone:
they serve JSON, or are the framework's own pages.
"""

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Not the panel: the API (JSON) and the framework's documentation pages.
NOT_PANEL = ("/api/", "/docs", "/redoc", "/openapi.json", "/static-offline-docs", "/healthz", "/readyz")


def is_panel_path(path: str) -> bool:
    return not path.startswith(NOT_PANEL)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if scope["type"] != "http" or not is_panel_path(path.removeprefix(root) if root else path):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
