"""The data a DNS plan is made of: live RRsets as a provider reads them, and changes.

Both the plan (which computes changes) and the providers (which read RRsets
and write changes) use these types, so they live here, below both: neither
imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from .records import RecordKey

CREATE, UPDATE, DELETE = "create", "update", "delete"
ADDRESS_TYPES = ("A", "AAAA")


@dataclass(frozen=True)
class RRset:
    """A live RRset as the provider serves it, values in records.canonical form."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]
    # True when the provider carries mailops's own marker on it (Cloudflare
    # record comment), i.e. mailops created it. False = unknown, not "foreign".
    marked: bool = False
    # Providers that store one TTL per record (Cloudflare) give each value's
    # TTL here, so a foreign record beside ours never decides our TTL.
    ttls: tuple[tuple[str, int], ...] = ()
    # Values the provider serves through a proxy instead of as published
    # (Cloudflare's orange cloud): DNS answers carry the proxy's addresses.
    proxied: tuple[str, ...] = ()
    # Values the provider will not let an API token change, with why and what
    # to do (Cloudflare Email Routing's own MX/SPF records).
    locked: tuple[tuple[str, str], ...] = ()

    def ttl_of(self, values: Iterable[str]) -> int | None:
        """The TTL of these values; None if they differ (then the plan updates them)."""
        if not self.ttls:
            return self.ttl
        per = dict(self.ttls)
        found = {per.get(v, self.ttl) for v in values}
        return found.pop() if len(found) == 1 else None


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    key: RecordKey
    zone: str
    domain: str
    before: tuple[str, ...]  # the live values the key owns (other values at the name excluded)
    after: tuple[str, ...]
    ttl_before: int | None
    ttl_after: int | None
    reason: str
    owned: bool = True  # False: a deletion of something mailops did not create
    notes: tuple[str, ...] = ()
    # Why this change cannot be written as it stands (a conflicting record at
    # the name, a record the provider locks), with what to do; "" = writable.
    blocked: str = ""

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def type(self) -> str:
        return self.key.type

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("key")
        return {"name": self.key.name, "type": self.key.type, "match": self.key.match, **d}

