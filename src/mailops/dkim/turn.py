"""What one run over one domain works with: the domain's policy and the shared Turn.

The policy (algorithm, queue lifetime) comes from the inventory and fixes the
grace period a retiring key's record stays published; the :class:`Turn` is the
state the steps of transitions.py share within one run, real or dry, and the
one place a port call is wrapped so a failure stops the domain resumably.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from . import keys as keymod
from .keystore import Key, Keystore
from .plan import START_COMMAND
from .report import DomainResult

if TYPE_CHECKING:
    from .rotation import Rotation

DEFAULT_MARGIN = timedelta(days=7)
DEFAULT_QUEUE_LIFETIME = 5 * 86400  # Postfix maximal_queue_lifetime default (5d)
DEFAULT_WAIT_TIMEOUT = 600.0  # seconds for every authoritative server to serve a new record
RESUME = START_COMMAND  # what every failure tells the operator to run again


@dataclass(frozen=True)
class DomainPolicy:
    """What the rotation needs to know about a domain, from the settings."""

    name: str
    algorithm: str = keymod.DEFAULT_ALGORITHM
    queue_lifetime: int = DEFAULT_QUEUE_LIFETIME  # seconds


def policies_from_hosts(hosts) -> dict[str, DomainPolicy]:
    """Domain name -> policy, from inventory hosts (``mailops.inventory.MailHost``).

    The algorithm is the domain's ``dkim.algorithm``; the queue lifetime is the
    longest ``maximal_queue_lifetime`` of the hosts serving the domain (the
    record must outlive the slowest queue).
    """
    out: dict[str, DomainPolicy] = {}
    for host in hosts:
        for d in host.settings.domains:
            qlt = host.settings.maximal_queue_lifetime
            prev = out.get(d.name)
            if prev is not None:
                qlt = max(qlt, prev.queue_lifetime)
            out[d.name] = DomainPolicy(
                d.name, prev.algorithm if prev else d.dkim_algorithm, qlt
            )
    return out


def grace_period(queue_lifetime: int, margin: timedelta = DEFAULT_MARGIN) -> timedelta:
    """How long a retiring key's record stays published after the switch."""
    if margin < timedelta(0):
        raise ValueError(
            f"DKIM retire margin: found {margin}; expected 0 or more — a retired key's record "
            "must stay published at least as long as Postfix's maximal_queue_lifetime "
            f"({queue_lifetime}s), or queued mail signed with it fails DKIM on arrival"
        )
    return timedelta(seconds=queue_lifetime) + margin


class StepFailed(RuntimeError):
    pass


# ---------------------------------------------------------------- one run of one domain


@dataclass
class Turn:
    """One run (real or dry) over one domain: what the steps share."""

    rot: Rotation
    policy: DomainPolicy
    res: DomainResult
    dry: bool
    due: list[Key] = field(default_factory=list)  # retiring keys past retire_after
    key: Key | None = None  # the pending key (None in a dry run that would generate it)
    selector: str = ""
    algorithm: str = ""
    previous: Key | None = None  # the active key before the switch

    @property
    def d(self) -> str:
        return self.policy.name

    @property
    def ks(self) -> Keystore:
        return self.rot.ks

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.d}"

    def call(self, what: str, func, *args):
        """A port call; any failure stops this domain, loudly, resumable."""
        try:
            return func(*args)
        except Exception as e:  # noqa: BLE001 — reported with how to resume
            raise StepFailed(
                f"{what} failed ({type(e).__name__}: {e}). The keystore records how far the "
                f"rotation got; run `{RESUME.format(domain=self.d)}` again to resume."
            ) from e


Said = tuple[str, str]  # (what a dry run would do, what a real run did)
Step = Callable[[Turn], list[Said]]
