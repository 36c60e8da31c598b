"""Cloudflare's API error envelopes turned into what to fix.

Cloudflare answers every failure with the v4 envelope ``{"success": false,
"errors": [{"code", "message", "error_chain"?}]}``; the code, not the HTTP
status, says what went wrong (a malformed token is HTTP 400 code 6003 with
the detail in ``error_chain``, not 401). The permissions are the ones the
API description lists per operation (``x-cfPermissionsRequired``):
``#zone:read`` to find the zone, ``#dns_records:edit`` to change records.
"""

from __future__ import annotations

TOKEN_FORM = ("'<Cloudflare API token with Zone → Zone → Read and Zone → DNS → Edit on the "
              "zone>'")
PERMISSIONS = "Zone → Zone → Read and Zone → DNS → Edit"


def _codes(errors: list) -> list[int]:
    out = []
    for e in errors:
        if isinstance(e, dict):
            out.append(e.get("code"))
            out += _codes(e.get("error_chain") or [])
    return out


def _detail(errors: list) -> str:
    parts = []
    for e in errors:
        if isinstance(e, dict):
            parts.append(f"code {e.get('code')}: {e.get('message')}")
            chain = _detail(e.get("error_chain") or [])
            if chain:
                parts[-1] += f" [{chain}]"
    return "; ".join(parts)


def explain(status: int, body: dict, doing: str, var: str, zone: str) -> tuple[str, str]:
    """(what happened, what to do) for a Cloudflare error response."""
    errors = body.get("errors") or []
    codes = set(_codes(errors))
    what = f"Cloudflare answered HTTP {status} while {doing} ({_detail(errors) or 'no detail'})"
    create = (f"create an API token (My Profile → API Tokens) with {PERMISSIONS} for {zone} "
              f"and export it as {var}")
    if codes & {6003, 6111, 6100, 6101, 6102, 6103}:
        todo = (f"the value in {var} is not a Cloudflare API token (a token is 40 letters, "
                f"digits, '-' or '_'; not the Global API Key, not quoted, no 'Bearer '): {create}")
    elif codes & {9109, 1000, 9106, 9103}:
        todo = f"the API token in {var} is not valid (revoked, expired or mistyped): {create}"
    elif 10000 in codes or status == 403:
        todo = (f"the API token in {var} lacks a permission this needs: give it {PERMISSIONS} "
                f"on {zone} (dashboard: My Profile → API Tokens → edit)")
    elif codes & {81053, 81054}:
        todo = ("a CNAME cannot share its name with other records (RFC 1034 §3.6.2): delete "
                "the other record at that name in Cloudflare, or turn the mailops record off "
                "in the inventory")
    elif 81058 in codes:
        todo = ("the record already exists at Cloudflare: the zone changed since the plan was "
                "read; run `mailops dns plan` again")
    elif 1004 in codes:
        todo = ("Cloudflare refused the record; if it names Email Routing, that feature owns "
                "the zone's MX and SPF: disable Email Routing for the zone (Email → Email "
                "Routing → Settings) to receive mail on this host, then apply again")
    elif 9021 in codes:
        todo = "set a TTL between 60 and 86400 seconds in the inventory"
    elif status == 404:
        todo = (f"check that zone {zone} exists in the Cloudflare account of the token in {var} "
                "(dns.zone in the inventory)")
    else:
        todo = "fix what Cloudflare reports and run the command again"
    return what, todo
