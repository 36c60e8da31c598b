"""The overview page: each domain's posture, its DKIM keys, pending DNS changes.

Three sections, each from the module its command uses (sources.py); one that fails
(a host down, a DNS provider refusing) shows its error and the others still show.
"""

from __future__ import annotations

from .web import Request, Response, attempt, page


def view(request: Request) -> Response:
    sources = request.sources
    posture, posture_error = attempt(lambda: sources.posture(refresh=bool(request.arg("refresh"))))
    keys, keys_error = attempt(sources.dkim_keys)
    plans, plan_error = attempt(sources.dns_plan)
    return page(request, "overview.html.j2", title="Overview", posture=posture,
                posture_error=posture_error, keys=keys or [], keys_error=keys_error,
                plans=plans or [], plan_error=plan_error, domains=sources.domains)
