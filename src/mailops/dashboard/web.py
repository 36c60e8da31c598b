"""Requests, responses and pages: what the views take and give back.

Pages are Jinja2 templates in templates/dashboard/ (autoescaped: every value from a
host or a remote server's reply is text, never markup), rendered with the session's
CSRF token so every form can carry it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

if TYPE_CHECKING:
    from jinja2 import Environment

    from .sources import Sources

TEMPLATE_DIR = "dashboard"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    csrf: str  # this session's CSRF token, for the forms of the page
    sources: Sources
    jobs: Any  # sendtest.Jobs

    def arg(self, name: str, default: str = "") -> str:
        return (self.query.get(name) or default).strip()

    def field(self, name: str, default: str = "") -> str:
        return (self.form.get(name) or default).strip()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def attempt(fn: Callable[[], Any]) -> tuple[Any, str]:
    """(what ``fn`` returned, "") or (None, the error as the operator should read it)."""
    try:
        return fn(), ""
    except Exception as e:  # noqa: BLE001 - shown on the page instead of a broken page
        return None, f"{type(e).__name__}: {e}" if not str(e).startswith("host ") else str(e)


def redirect(path: str, **query: str) -> Response:
    """303 See Other: after a POST, the browser GETs the result page (no re-submission)."""
    target = path + ("?" + urlencode({k: v for k, v in query.items() if v}) if query else "")
    return Response(303, headers={"Location": target})


@cache
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    from ..services.render import TEMPLATES_DIR

    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR / TEMPLATE_DIR),
                      autoescape=select_autoescape(["html.j2", "svg.j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["symbol"] = {"ok": "✓", "fail": "✗", "warn": "!"}
    return env


def page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    html = environment().get_template(template).render(
        csrf=request.csrf, path=request.path, **context)
    return Response(status, html.encode())


def static_file(name: str) -> bytes:
    from ..services.render import TEMPLATES_DIR

    return (TEMPLATES_DIR / TEMPLATE_DIR / name).read_bytes()
