"""Bounces and suppression: what the hosts recorded, and lifting a suppression.

Removing an address takes two POSTs, both with the session's CSRF token: the first
shows what will happen and asks, the second (``confirm=yes``) runs what
`mailops suppression remove` runs on every host and returns to the list.
"""

from __future__ import annotations

from ..inventory import is_address
from .web import Request, Response, attempt, page, redirect


def view(request: Request) -> Response:
    bounces, bounces_error = attempt(request.sources.bounces)
    suppressed, suppressed_error = attempt(request.sources.suppressed)
    return page(request, "bounces.html.j2", title="Bounces & suppression",
                bounces=bounces or [], bounces_error=bounces_error,
                suppressed=suppressed or [], suppressed_error=suppressed_error,
                removed=request.arg("removed"), not_found=request.arg("not_found"))


def remove(request: Request) -> Response:
    address = request.field("address").lower()
    if not is_address(address):
        return page(request, "message.html.j2", status=400, title="Not an address",
                    text=f"found {address!r}; expected an e-mail address such as "
                         "someone@example.com")
    if request.field("confirm") != "yes":
        return page(request, "confirm_remove.html.j2", title="Remove from suppression?",
                    address=address)
    results, error = attempt(lambda: request.sources.unsuppress(address))
    if error:
        return page(request, "message.html.j2", status=502, title="Not removed", text=error)
    if any(removed for _, removed in results):
        return redirect("/bounces", removed=address)
    return redirect("/bounces", not_found=address)
