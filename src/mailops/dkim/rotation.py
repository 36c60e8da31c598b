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

The steps are ONE list (:data:`ROTATION_STEPS`, :data:`RETIREMENT_STEPS`) walked
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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import keys as keymod
from .keystore import RETIRING, Key, Keystore, KeystoreError, fmt_time
from .plan import START_COMMAND
from .ports import DkimRecord, RotationPorts
from .report import DomainResult, days
from .selectors import next_selector

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


# ---------------------------------------------------------------- step 6: retirement


def withdraw(t: Turn) -> list[Said]:
    """Publish the record set without the records of due keys (one change for all)."""
    to_withdraw = [k for k in t.due if not k.done("withdrawn")]
    if not to_withdraw:
        return []
    if not t.dry:
        due_sel = {k.selector for k in t.due}
        keep = [DkimRecord.of(k) for k in t.ks.published(t.d) if k.selector not in due_sel]
        t.call("withdrawing " + ", ".join(k.record_name for k in to_withdraw),
               t.rot.ports.publish, t.d, keep)
        for k in to_withdraw:
            t.ks.mark_withdrawn(t.d, k.selector)
            t.res.withdrawn.append(k.selector)
    return [(f"withdraw TXT {k.record_name} (retire-after {fmt_time(k.retire_after)} passed)",
             f"withdrew TXT {k.record_name} (retire-after {fmt_time(k.retire_after)} passed)")
            for k in to_withdraw]


def destroy(t: Turn) -> list[Said]:
    """Delete the private keys of withdrawn keys, on the hosts first, then in the keystore."""
    out = []
    for k in t.due:
        if not t.dry:
            k = t.ks.key(t.d, k.selector)
            t.call(f"destroying {k.selector}'s private key on the hosts",
                   t.rot.ports.destroy_on_hosts, t.d, k)
            t.ks.destroy(t.d, k.selector)
            t.res.retired.append(k.selector)
        out.append((f"destroy the private key of {k.selector} on the hosts and in the keystore",
                    f"destroyed the private key of {k.selector} on the hosts and in the "
                    "keystore; it is retired"))
    return out


# ---------------------------------------------------------------- steps 1-5: rotation


def generate(t: Turn) -> list[Said]:
    """A new pending key, or the pending key of an unfinished rotation."""
    pending = t.ks.pending_key(t.d)
    if pending is not None:
        t.key, t.selector, t.algorithm = pending, pending.selector, pending.algorithm
        if pending.algorithm != t.policy.algorithm:
            t.res.notes.append(
                f"{pending.selector} is {pending.algorithm} but the inventory now says "
                f"{t.policy.algorithm}; finishing this rotation, rotate again to switch")
        what = (f"the rotation to {t.selector} ({t.algorithm}), pending since "
                f"{fmt_time(pending.since)}")
        return [(f"resume {what}", f"resuming {what}")]
    t.algorithm = t.policy.algorithm
    if t.dry:
        taken = {k.selector for k in t.ks.keys(t.d)} | set(t.ks.orphans(t.d))
        t.selector = next_selector(t.rot.clock(), taken)
    else:
        t.key = t.ks.create_pending(t.d, t.algorithm)
        t.selector = t.res.generated = t.key.selector
    what = f"a new {t.algorithm} key {t.selector}, pending"
    return [(f"generate {what}", f"generated {what}")]


def publish(t: Turn) -> list[Said]:
    """Every published record plus the new one (idempotent: repeated on every run)."""
    due_sel = {k.selector for k in t.due}
    kept = [k.record_name for k in t.ks.published(t.d)
            if k.selector not in due_sel and k.selector != t.selector]
    if not t.dry:
        records = [DkimRecord.of(k) for k in t.ks.published(t.d)]
        t.call(f"publishing TXT {t.record_name}", t.rot.ports.publish, t.d, records)
        t.ks.record(t.d, t.selector, "published")
    return [(f"publish TXT {t.record_name}" + (f", keeping {', '.join(kept)}" if kept else ""),
             f"published TXT {t.record_name}" + (f", kept {', '.join(kept)}" if kept else ""))]


def wait(t: Turn) -> list[Said]:
    """Until EVERY authoritative server serves the new record (idempotent)."""
    timeout = t.rot.wait_timeout
    if not t.dry:
        visible = t.call(f"waiting for {t.record_name}", t.rot.ports.wait_visible,
                         t.d, t.record_name, t.key.txt_value, timeout)
        if not visible:
            raise StepFailed(
                f"timed out after {timeout:g}s waiting until every authoritative name "
                f"server of the zone serves TXT {t.record_name}. {t.selector} stays pending "
                "and nothing signs with it; the current key (if any) keeps signing. Check that "
                "the DNS provider accepted the record and that secondaries transfer the zone "
                f"(`dig +norecurse TXT {t.record_name} @<each NS>`), then run "
                f"`{RESUME.format(domain=t.d)}` again to resume."
            )
        t.ks.record(t.d, t.selector, "visible")
    return [(f"wait up to {timeout:g}s until every authoritative name server serves it",
             f"saw {t.record_name} on every authoritative name server")]


def deploy(t: Turn) -> list[Said]:
    """The real deploy, with the new key named for this domain only."""
    t.previous = t.ks.signing_key(t.d)
    if not t.dry:
        t.call(f"deploying {t.selector} to the hosts", t.rot.ports.deploy, t.d, t.key)
        t.ks.record(t.d, t.selector, "deployed")
    return [(f"deploy {t.selector} to every host signing for {t.d}, switch the SigningTable, "
             "reload OpenDKIM",
             f"deployed {t.selector} to every host signing for {t.d} and reloaded OpenDKIM")]


def probe(t: Turn) -> list[Said]:
    """A message signed on each host must verify against DNS; else switch back and stop."""
    if not t.dry:
        try:
            ok = bool(t.rot.ports.probe(t.d, t.key))
            why = "a probe message signed on the host did not verify against DNS"
        except Exception as e:  # noqa: BLE001 — a probe that crashes is a failed probe
            ok, why = False, f"the probe raised {type(e).__name__}: {e}"
        if not ok:
            t.ks.record(t.d, t.selector, "probe-failed")
            raise StepFailed(
                f"PROBE FAILED for {t.selector}: {why}. {t.selector} was NOT made active. "
                f"{_switch_back(t)} Inspect OpenDKIM on the hosts (journalctl -u opendkim) and "
                f"the record {t.record_name}, then run `{RESUME.format(domain=t.d)}` again."
            )
    return [("probe: sign a message on each host and verify it against DNS (stop and switch "
             "back if it fails)",
             f"probe: a message signed with {t.selector} on the hosts verified against DNS")]


def _switch_back(t: Turn) -> str:
    # No previous key (a domain's first key): the plain deploy leaves the domain unsigned.
    try:
        t.rot.ports.deploy(t.d, t.previous)
    except Exception as e:  # noqa: BLE001 — report it with the probe failure
        return (f"Switching the hosts back ALSO FAILED ({type(e).__name__}: {e}) — the hosts "
                "may be signing with the unverified key; run the deploy to restore the plan.")
    if t.previous is None:
        return f"The hosts were switched back to not signing {t.d} (it has no active key yet)."
    return f"The hosts were switched back to the active key {t.previous.selector}."


def activate(t: Turn) -> list[Said]:
    """The new key active; the previous one retiring until queue lifetime + margin."""
    qlt, margin = t.policy.queue_lifetime, t.rot.margin
    grace = grace_period(qlt, margin)
    if not t.dry:
        t.ks.activate(t.d, t.selector, t.rot.clock() + grace)
        t.res.activated = t.selector
        if t.previous is not None:
            t.res.retiring.append(t.previous.selector)
    if t.previous is None:
        return [(f"make {t.selector} active",
                 f"{t.selector} is active (the domain had no active key before)")]
    why = f"(queue lifetime {days(timedelta(seconds=qlt))} + margin {days(margin)})"
    return [(f"make {t.selector} active and {t.previous.selector} retiring for {days(grace)} "
             + why,
             f"{t.selector} is active; {t.previous.selector} is retiring, its record stays until "
             f"{fmt_time(t.rot.clock() + grace)} {why}")]


RETIREMENT_STEPS: tuple[Step, ...] = (withdraw, destroy)
ROTATION_STEPS: tuple[Step, ...] = (generate, publish, wait, deploy, probe, activate)


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

