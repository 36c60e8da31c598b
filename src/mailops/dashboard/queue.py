"""The queue page: what each host's Postfix holds (``postqueue -j``), oldest first."""

from __future__ import annotations

import datetime as dt

from .web import Request, Response, attempt, page


def view(request: Request) -> Response:
    hosts, error = attempt(request.sources.queue)
    now = dt.datetime.now(dt.UTC).timestamp()
    shown = []
    for host, entries, host_error in hosts or []:
        rows = sorted(entries, key=lambda e: e.get("arrival_time") or 0)
        for e in rows:
            arrived = e.get("arrival_time")
            e["arrived"] = (dt.datetime.fromtimestamp(arrived, dt.UTC).strftime("%Y-%m-%d %H:%M")
                            if arrived else "")
            e["age_minutes"] = int((now - arrived) // 60) if arrived else None
        shown.append((host, rows, host_error))
    return page(request, "queue.html.j2", title="Queue", hosts=shown, error=error)
