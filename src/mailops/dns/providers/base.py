"""What every DNS provider offers mailops: read the records it cares about, apply changes.

A provider works on one zone. :meth:`Provider.read` returns the live RRsets
at the names mailops manages (and every name below the given subtrees, so
stale DKIM selectors are seen); :meth:`Provider.apply` makes the live zone
match a list of :class:`~mailops.dns.changes.Change`, touching only the values
each change's key owns. Credentials come from the environment only.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence

from ...inventory import DnsProvider
from ..changes import Change, RRset

__all__ = ["ApplyError", "Provider", "ProviderError", "RRset", "join_txt", "quote_txt",
           "split_txt"]

# RFC 1035 §3.3: a <character-string> is one length octet plus at most 255 octets.
TXT_CHUNK = 255


class ProviderError(Exception):
    """A provider call failed; the message names the domain, what happened, what to do."""

    def __init__(self, domain: str, what: str, todo: str,
                 after: str = "Nothing more was changed; `mailops dns plan` shows what is "
                              "still to do."):
        self.domain, self.what, self.todo = domain, what, todo
        super().__init__(f"{domain}: {what} — {todo}. {after}")


class ApplyError(ProviderError):
    """An apply left records different from the plan (blocked, or not taken by the server)."""

    def __init__(self, domain: str, problems: Sequence[str]):
        super().__init__(domain, f"{len(problems)} record(s) are not as planned:\n  - "
                         + "\n  - ".join(problems),
                         "fix each as said and run `mailops dns apply` again",
                         after="Every other change was applied.")


def split_txt(value: str) -> list[bytes]:
    """One TXT value as the character-strings of ONE record (RFC 1035 §3.3.14).

    Verifiers concatenate the strings of a single record (RFC 6376 §3.6.2.2,
    RFC 7208 §3.3); two records would be two keys / two SPF policies instead.
    """
    data = value.encode()
    return [data[i:i + TXT_CHUNK] for i in range(0, len(data), TXT_CHUNK)] or [b""]


def quote_txt(value: str) -> str:
    """A TXT value in presentation format: quoted 255-byte character-strings of ONE record
    (RFC 1035 §5.1). Zone files and Cloudflare's `content` both take this form."""
    out = []
    for chunk in split_txt(value):
        text = chunk.decode("utf-8", "replace")
        out.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return " ".join(out)


def join_txt(strings: Sequence[bytes]) -> str:
    return b"".join(strings).decode("utf-8", "replace")


class Provider(ABC):
    kind = "base"

    def __init__(self, config: DnsProvider, domain: str, env: Mapping[str, str] | None = None):
        self.config = config
        self.domain = domain  # for messages: the hosted domain that uses this zone
        self.zone = config.zone or domain
        self.env = os.environ if env is None else env
        # What the last read wants the operator to know (e.g. how it read the
        # zone); the plan prints these once under the zone.
        self.notes: list[str] = []

    def progress(self, message: str) -> None:
        """A visible note while a call waits (rate limits); stderr keeps --json clean."""
        print(message, file=sys.stderr, flush=True)

    def credential(self, var: str, form: str) -> str:
        value = self.env.get(var, "").strip()
        if not value:
            raise ProviderError(self.domain, f"the environment variable {var} is not set "
                                f"({self.kind} needs it for zone {self.zone})",
                                f"export {var}={form} and run the command again")
        return value

    def effective_ttl(self, ttl: int) -> int:
        """The TTL the provider will really store for a requested one."""
        return ttl

    @abstractmethod
    def read(self, names: Collection[str], subtrees: Collection[str] = ()) -> list[RRset]:
        """Live A/AAAA/CNAME/MX/TXT RRsets at ``names`` and anywhere under ``subtrees``."""

    @abstractmethod
    def apply(self, changes: Sequence[Change]) -> None:
        """Make the zone match ``changes``; values the change keys do not own stay as they are."""
