"""What an RFC 2136 server's refusal means, and what to configure on BIND, Knot and PowerDNS.

The servers answer the same refusal differently: BIND answers REFUSED when
a key may not update or transfer a zone, Knot and PowerDNS answer NOTAUTH
(Knot's ACL denial, PowerDNS's TSIG-ALLOW-* metadata), so the advice for
every refusal names the setting of each server. The settings come from
each server's own documentation:

- BIND 9 ARM, "Dynamic Update Policies" (update-policy / allow-update) and
  allow-transfer;
- Knot DNS reference, "Access control list (ACL)" (``action: update`` /
  ``action: transfer``, ``key:``);
- PowerDNS Authoritative, "Dynamic DNS Update" (``dnsupdate=yes``,
  ``TSIG-ALLOW-DNSUPDATE``) and "Per zone settings" (``TSIG-ALLOW-AXFR``).
"""

from __future__ import annotations

# RFC 2136 §2.2 and RFC 8945 §5.3: what each response code says about an UPDATE.
MEANING = {
    "NOTAUTH": "the server does not let this key change the zone (its access list refused "
               "the signed request, or it is not authoritative for the zone)",
    "REFUSED": "the server refused the request by policy, or its data checks rejected the "
               "records",
    "NOTZONE": "a record name is not inside the zone",
    "NOTIMP": "the server does not implement this operation for the zone",
    "SERVFAIL": "the server failed to process the request (zone not loaded, or its journal "
                "or database not writable)",
    "FORMERR": "the server could not parse the request",
    "YXDOMAIN": "a prerequisite failed: a name exists that should not (the zone changed "
                "since the plan was read)",
    "YXRRSET": "a prerequisite failed: an RRset exists that should not (the zone changed "
               "since the plan was read)",
    "NXDOMAIN": "a prerequisite failed: a name does not exist that should",
    "NXRRSET": "a prerequisite failed: an RRset does not exist that should",
}


def allow_update(key: str, zone: str) -> str:
    return (f"allow key {key!r} to update zone {zone} — BIND: in the zone statement "
            f"`update-policy {{ grant {key} zonesub ANY; }};` (or `allow-update {{ key {key}; }};`)"
            f"; Knot: an acl with `key: {key}` and `action: update`, listed in the zone's "
            f"`acl:`; PowerDNS: `dnsupdate=yes` in pdns.conf and "
            f"`pdnsutil set-meta {zone} TSIG-ALLOW-DNSUPDATE {key}` (with a backend that "
            "supports updates, e.g. gsqlite3, not the bind backend)")


def allow_transfer(key: str, zone: str) -> str:
    return (f"To let mailops see the whole zone, allow key {key!r} to transfer it — BIND: "
            f"`allow-transfer {{ key {key}; }};` in the zone; Knot: `action: transfer` in an "
            f"acl with `key: {key}`; PowerDNS: `pdnsutil set-meta {zone} TSIG-ALLOW-AXFR {key}`")


def todo(rcode: str, key: str, zone: str, var: str) -> str:
    """What to do about an UPDATE answered with ``rcode``."""
    if rcode in ("NOTAUTH", "REFUSED"):
        extra = ""
        if rcode == "REFUSED":
            extra = ("; if the key is allowed, the server's data checks rejected a record "
                     "(BIND check-integrity: an MX or NS target inside the zone without A/AAAA — "
                     "set ipv4/ipv6 in the inventory; PowerDNS: a CNAME beside other data) and "
                     "its log names the record")
        return (f"{allow_update(key, zone)}; if it is allowed, check that {var} holds the "
                f"same key name and secret as the server{extra}")
    if rcode == "NOTZONE":
        return f"check dns.zone ({zone}) in the inventory: the records must lie inside it"
    if rcode == "NOTIMP":
        return (f"the zone must be a primary zone that accepts updates: {allow_update(key, zone)}")
    if rcode == "SERVFAIL":
        return ("check the server's log: BIND needs a writable zone directory for its .jnl "
                "journal, Knot a writable `storage`, PowerDNS a writable database")
    if rcode in ("YXDOMAIN", "YXRRSET", "NXDOMAIN", "NXRRSET"):
        return "run `mailops dns plan` again and apply the fresh plan"
    return "check the server's log"
