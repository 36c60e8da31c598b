"""The messages page (the delivery log of every host, filtered, with its charts) and
one message's timeline (trace).

The filters are those of `mailops messages` (--since, --from, --to, --state); a bad
value is shown next to its field and nothing is fetched for it.
"""

from __future__ import annotations

import datetime as dt

from ..delivery.fetch import STATES
from ..inventory import is_address
from ..onhost.delivery.query import since_us
from . import charts
from .web import Request, Response, attempt, page

DEFAULT_DAYS, MAX_DAYS = 3, 31
DEFAULT_LIMIT, MAX_LIMIT = 200, 5000
CHART_LIMIT = 100_000  # rows read for the charts: every message of the window


def filters(request: Request) -> tuple[dict, dict[str, str]]:
    """(keyword arguments for fetch.messages, {field: what is wrong with it})."""
    out: dict = {}
    errors: dict[str, str] = {}
    if since := request.arg("since"):
        try:
            since_us(since)  # the hosts parse it the same way; refuse it before asking them
            out["since"] = since
        except ValueError as e:
            errors["since"] = str(e).removeprefix("--since: ")
    for name, key in (("from", "sender"), ("to", "recipient")):
        if value := request.arg(name).lower():
            if is_address(value) or (value.startswith("@") and "." in value):
                out[key] = value
            else:
                errors[name] = (f"found {value!r}; expected an address such as "
                                "bob@example.com")
    if state := request.arg("state"):
        if state in STATES:
            out["state"] = state
        else:
            errors["state"] = f"found {state!r}; expected one of {', '.join(STATES)}"
    out["limit"] = _number(request.arg("limit"), DEFAULT_LIMIT, MAX_LIMIT, "limit", errors)
    return out, errors


def _number(text: str, default: int, top: int, name: str, errors: dict[str, str]) -> int:
    if not text:
        return default
    if text.isdigit() and 1 <= int(text) <= top:
        return int(text)
    errors[name] = f"found {text!r}; expected a whole number from 1 to {top}"
    return default


def view(request: Request) -> Response:
    wanted, errors = filters(request)
    days = _number(request.arg("days"), DEFAULT_DAYS, MAX_DAYS, "days", errors)
    rows, error, chart_rows, chart_error = [], "", [], ""
    if not errors:
        rows, error = attempt(lambda: request.sources.messages(**wanted))
        chart_rows, chart_error = attempt(
            lambda: request.sources.messages(since=dt.timedelta(days=days), limit=CHART_LIMIT))
    now = dt.datetime.now(dt.UTC)
    hourly = charts.per_hour(chart_rows or [], now, days)
    rates = charts.rates(chart_rows or [], now, days)
    return page(request, "messages.html.j2", title="Messages", rows=rows or [], error=error,
                errors=errors, query=request.query, states=STATES, days=days,
                hourly=hourly, rates=rates, chart_error=chart_error,
                hourly_ticks=charts.y_ticks(hourly), rate_ticks=charts.y_ticks(rates),
                ident=ident)


def ident(row: dict) -> str:
    """What to trace a row by: its Message-ID where it has one, else its queue id."""
    return row.get("message_id") or row.get("queue_id") or row.get("recipient") or ""


def trace_view(request: Request) -> Response:
    wanted = request.arg("id")
    if not wanted:
        return page(request, "message.html.j2", status=400, title="Trace",
                    text="name a queue id, a Message-ID or an address: /trace?id=…")
    rows, error = attempt(lambda: request.sources.trace(wanted))
    return page(request, "trace.html.j2", title=f"Trace {wanted}", ident=wanted,
                rows=rows or [], error=error, when=charts.row_time)
