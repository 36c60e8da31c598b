"""One DKIM key as the keystore's history says it is now, its states and times.

Split from keystore.py (keyfiles.py owns the files, keyhistory.py the history log);
the states are those of the lifecycle drawn in keystore.py. No private key
material here: a Key holds only the path of its 0600 PEM file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import keys as keymod

PENDING, ACTIVE, RETIRING, RETIRED = "pending", "active", "retiring", "retired"
STATES = (PENDING, ACTIVE, RETIRING, RETIRED)
PUBLISHED_STATES = (PENDING, ACTIVE, RETIRING)

FORMAT_VERSION = 1

Clock = Callable[[], datetime]


class KeystoreError(RuntimeError):
    """The keystore refused an operation; the message says why and what to do."""


class KeystoreBusy(KeystoreError):
    """Another mailops process holds the domain's rotation lock."""


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def fmt_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class Key:
    """One DKIM key of one domain, as the history says it is now.

    Holds no private material: ``private_key_path`` is where the 0600 PEM file
    is (None once the key is retired and the file destroyed).
    """

    domain: str
    selector: str
    algorithm: str
    state: str
    txt_value: str = field(repr=False)
    created: datetime = field(repr=False)
    since: datetime = field(repr=False)  # when the key entered its current state
    retire_after: datetime | None = field(default=None, repr=False)
    private_key_path: Path | None = field(default=None, repr=False)
    # Progress of a pending key / a retiring key: "published", "visible",
    # "deployed", "probe-failed", "withdrawn" (each recorded with its time).
    progress: tuple[tuple[str, datetime], ...] = field(default=(), repr=False)

    @property
    def record_name(self) -> str:
        """The owner name of the key's TXT record (RFC 6376 §3.6.2.1)."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def signature_algorithm(self) -> str:
        return keymod.signature_algorithm(self.algorithm)

    def done(self, step: str) -> datetime | None:
        for name, when in reversed(self.progress):
            if name == step:
                return when
        return None

    def read_private_key(self) -> keymod.PrivateKeyPem:
        """The private key, for deploying it to a host. Opaque: never printable."""
        if self.private_key_path is None:
            raise KeystoreError(
                f"{self.domain} {self.selector}: the key is {self.state}; its private key was "
                "destroyed and cannot be deployed"
            )
        return keymod.PrivateKeyPem(self.private_key_path.read_bytes(), self.algorithm)

    def __str__(self) -> str:
        return f"{self.domain} {self.selector} ({self.algorithm}, {self.state})"
