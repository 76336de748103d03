"""VPSORG_PUBLIC_URL: the links the API writes (Location headers, page links, trailing-slash
redirects) point at the configured public URL, not at whatever Host a request names.

A pure ASGI middleware rewrites each request's scope: the scheme, the Host header and the
server address come from the setting, and its path prefix becomes the root_path (prepended to
the path, unless the proxy forwarded it). Everything that builds a URL from the scope
(`request.url`, `request.url_for`, Starlette's redirect_slashes) then follows.
"""

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send


class PublicURLMiddleware:
    def __init__(self, app: ASGIApp, public_url: str) -> None:
        self.app = app
        parts = urlsplit(public_url)
        self.scheme = parts.scheme
        self.host = parts.netloc.encode("latin-1")
        default_port = 443 if parts.scheme == "https" else 80
        self.server = (parts.hostname or "", parts.port or default_port)
        self.prefix = parts.path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope = dict(scope)
        websocket = scope["type"] == "websocket"
        scope["scheme"] = ("ws" + self.scheme.removeprefix("http")) if websocket else self.scheme
        scope["server"] = self.server
        scope["headers"] = [(k, v) for k, v in scope["headers"] if k != b"host"] + [(b"host", self.host)]
        if self.prefix:
            path: str = scope["path"]
            if path != self.prefix and not path.startswith(self.prefix + "/"):
                scope["path"] = self.prefix + path
                if "raw_path" in scope and scope["raw_path"] is not None:
                    scope["raw_path"] = self.prefix.encode() + scope["raw_path"]
            scope["root_path"] = self.prefix
        await self.app(scope, receive, send)
