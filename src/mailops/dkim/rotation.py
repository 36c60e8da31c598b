"""DKIM key rotation: the state machine, as pure orchestration over injected ports.

One rotation of one domain, each step recorded in the keystore history before
the next step depends on it (publish before signing, retire only after the
grace period)::

    1. generate   a new key, PENDING                         (keystore)
    2. publish    its TXT record, every current record kept (ports.publish)
    3. wait       until EVERY authoritative server serves it (ports.wait_visible)
    4. deploy     it to every signing host, switch SigningTable, reload OpenDKIM
                  (ports.deploy), then PROBE: a message signed on the host must
                  verify against DNS (ports.probe). A failed probe stops loudly,
                  switches the hosts back to the previous key, and leaves the
                  new key pending — never active.
    5. activate   the new key; the previous key becomes RETIRING with
                  retire_after = now + Postfix maximal_queue_lifetime + margin
                  (one atomic history line).
    6. retire     (any later run, or `mailops dkim retire`): for keys past their
                  retire_after, publish the record set without them (withdraw),
                  then destroy their private keys on the hosts
                  (ports.destroy_on_hosts) and in the keystore — only after the
                  withdrawal succeeded.

Why the grace period: OpenDKIM signs when Postfix accepts a message, and Postfix
may keep retrying delivery for up to ``maximal_queue_lifetime``; a receiver
verifies on arrival, so the old record must outlive every message signed with
the old key still in our queue. The margin (default 7 days) covers receivers
that verify later (mailing lists, forwarders, DMARC/ARC reports, spam
re-checks). The margin cannot be negative, so the record always outlives the
queue lifetime.

Resumability: a run that stops anywhere (a port raises, the process is killed)
leaves the history saying exactly how far it got; the next run resumes the
pending key. Publishing and waiting are repeated on every run (both idempotent
and cheap), so a key is deployed only right after ``wait_visible`` said True —
no host ever signs with a key that is not visible on every authoritative
server. A record is withdrawn only when its key is retiring and past its
retire_after time.

A domain's FIRST key takes the same steps: until it is active the domain has no
key to sign with, the deploy leaves it unsigned (mailops.dkim.plan), and a failed
probe switches the hosts back to not signing it.

The steps are ONE list (:data:`ROTATION_STEPS`, :data:`RETIREMENT_STEPS`, in
transitions.py; the domain's policy and the state they share in turn.py) walked
by both the real run and the dry run: each step either does its work or, in a
dry run, only says what it would do — reading the keystore, never writing it and
never calling a port. What was done is reported by report.py.

On real hosts (ports.default_ports): "deploy" runs the real deploy with pyinfra's
``--data mailops_dkim_sign_with=<domain>=<selector>`` (mailops.dkim.steps), the
probe has the running OpenDKIM sign through its milter socket and verifies with
dkimpy (mailops.dkim.probe), and retirement removes the key file over SSH. One
algorithm per rotation and per host: OpenDKIM 2.11 (Debian 12) signs Ed25519
(PKCS#8) keys but cannot dual-sign RSA + Ed25519 (RFC 8463 §5) in one message —
checked in the lab; see keys.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from .keystore import RETIRING, Keystore, KeystoreError, fmt_time
from .ports import RotationPorts
from .report import DomainResult
from .transitions import RETIREMENT_STEPS, ROTATION_STEPS
from .turn import (
    DEFAULT_MARGIN,
    DEFAULT_WAIT_TIMEOUT,
    RESUME,
    DomainPolicy,
    StepFailed,
    Turn,
    grace_period,
)

# ---------------------------------------------------------------- the machine


class Rotation:
    """Runs the steps for one domain at a time.

    ``ports`` may be None for dry runs and planning; ``clock`` defaults to the
    keystore's clock so both stamp the same time.
    """

    def __init__(
        self,
        keystore: Keystore,
        ports: RotationPorts | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        margin: timedelta = DEFAULT_MARGIN,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    ):
        grace_period(0, margin)  # validate early
        self.ks = keystore
        self.ports = ports
        self.clock = clock or keystore.clock
        self.margin = margin
        self.wait_timeout = wait_timeout

    def rotate(self, policy: DomainPolicy, *, dry_run: bool = False) -> DomainResult:
        """Start a rotation (or resume a pending one) and retire keys that are due.

        On a domain without keys this is how it starts signing: its first key."""
        return self._run(policy, dry_run=dry_run, rotate=True)

    def retire(self, policy: DomainPolicy, *, dry_run: bool = False) -> DomainResult:
        """Only step 6: withdraw and destroy keys past their retire_after time."""
        return self._run(policy, dry_run=dry_run, rotate=False)

    def _run(self, policy: DomainPolicy, *, dry_run: bool, rotate: bool) -> DomainResult:
        res = DomainResult(policy.name, dry_run=dry_run)
        try:
            if dry_run:
                self._walk(policy, res, rotate, dry=True)
                return res
            if self.ports is None:
                raise StepFailed("no ports given: a real run needs DNS and host access")
            with self.ks.lock(policy.name):
                self._walk(policy, res, rotate, dry=False)
        except (StepFailed, KeystoreError, ValueError) as e:
            res.fail(str(e))
        except OSError as e:
            res.fail(f"keystore I/O failed ({e}); the last committed step stands — fix the "
                     f"cause and run `{RESUME.format(domain=policy.name)}` again")
        return res

    def _walk(self, policy: DomainPolicy, res: DomainResult, rotate: bool, *, dry: bool
              ) -> None:
        now = self.clock()
        due = [k for k in self.ks.keys(policy.name)
               if k.state == RETIRING and k.retire_after is not None and k.retire_after <= now]
        t = Turn(self, policy, res, dry, due=due)
        steps = RETIREMENT_STEPS + (ROTATION_STEPS if rotate else ())
        for step in steps:
            for would, did in step(t):
                res.step(would if dry else did)
        if not rotate and not due:
            after = self._next_retirement(policy.name)
            res.step(("do nothing: no key is due for retirement" if dry
                      else "nothing due for retirement") + after)

    def _next_retirement(self, d: str) -> str:
        upcoming = [k for k in self.ks.keys(d) if k.state == RETIRING and k.retire_after]
        if not upcoming:
            return ""
        first = min(upcoming, key=lambda k: k.retire_after)
        return f"; next: {first.selector} after {fmt_time(first.retire_after)}"


# ---------------------------------------------------------------- many domains


def rotate_dkim(
    keystore: Keystore,
    ports: RotationPorts | None,
    policies: Iterable[DomainPolicy],
    *,
    dry_run: bool = False,
    retire_only: bool = False,
    clock: Callable[[], datetime] | None = None,
    margin: timedelta = DEFAULT_MARGIN,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
) -> list[DomainResult]:
    """Rotate (or, with ``retire_only``, only retire) each domain; one result per domain.

    A failure in one domain is reported in its result and does not stop the others.
    """
    rot = Rotation(keystore, ports, clock=clock, margin=margin, wait_timeout=wait_timeout)
    return [rot.retire(p, dry_run=dry_run) if retire_only else rot.rotate(p, dry_run=dry_run)
            for p in policies]

