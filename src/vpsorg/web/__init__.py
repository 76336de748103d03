"""The web panel: server-rendered pages (Jinja2 + htmx) on the same services as the API.

One module per domain, like the API's routers: each holds thin routes that call the
domain's service functions and render a template. Nothing here holds a business rule.
"""
