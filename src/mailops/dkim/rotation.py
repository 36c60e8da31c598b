"""DKIM key rotation: the state machine, as pure orchestration over injected ports.

One rotation of one domain, each step recorded in the keystore history before
the next step depends on it (DESIGN.md convention 6: publish before signing,
retire only after the grace period)::

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

On real hosts (ports.default_ports): "deploy" runs the real deploy with
``MAILOPS_DKIM_SIGN_WITH=<domain>=<selector>`` (mailops.hosts.opendkim), the probe
has the running OpenDKIM sign through its milter socket and verifies with dkimpy
(mailops.checks.dkim_probe), and retirement removes the key file over SSH. One
algorithm per rotation and per host: OpenDKIM 2.11 (Debian 12) signs Ed25519
(PKCS#8) keys but cannot dual-sign RSA + Ed25519 (RFC 8463 §5) in one message —
checked in the lab; see keys.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from . import keys as keymod
from .keystore import (
    ACTIVE,
    PENDING,
    RETIRED,
    RETIRING,
    Key,
    Keystore,
    KeystoreError,
    fmt_time,
)
from .ports import DkimRecord, RotationPorts
from .selectors import next_selector

DEFAULT_MARGIN = timedelta(days=7)
DEFAULT_QUEUE_LIFETIME = 5 * 86400  # Postfix maximal_queue_lifetime default (5d)
DEFAULT_WAIT_TIMEOUT = 600.0  # seconds for every authoritative server to serve a new record


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


def _days(td: timedelta) -> str:
    secs = int(td.total_seconds())
    if secs % 86400 == 0:
        return f"{secs // 86400}d"
    if secs % 3600 == 0:
        return f"{secs // 3600}h"
    return f"{secs}s"


class StepFailed(RuntimeError):
    pass


@dataclass
class DomainResult:
    """What one run did (or, in a dry run, would do) for one domain."""

    domain: str
    dry_run: bool = False
    ok: bool = True
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generated: str | None = None
    activated: str | None = None
    retiring: list[str] = field(default_factory=list)
    withdrawn: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    error: str | None = None

    def step(self, text: str) -> None:
        self.steps.append(("would " + text) if self.dry_run else text)

    def fail(self, message: str) -> None:
        self.ok = False
        self.error = message

    @property
    def outcome(self) -> str:
        if not self.ok:
            return "FAILED"
        if self.dry_run:
            return "DRY RUN"
        parts = []
        if self.activated:
            parts.append("ROTATED")
        if self.retired:
            parts.append("RETIRED OLD KEYS")
        return " + ".join(parts) or "NOTHING TO DO"

    def summary(self) -> str:
        if not self.ok:
            return f"{self.domain}: FAILED — {self.error}"
        if self.dry_run:
            return f"{self.domain}: DRY RUN — {len(self.steps)} step(s), nothing changed"
        bits = []
        if self.activated:
            bits.append(f"{self.activated} is now active")
        if self.retiring:
            bits.append(f"{', '.join(self.retiring)} retiring")
        if self.retired:
            bits.append(f"{', '.join(self.retired)} withdrawn and destroyed")
        return f"{self.domain}: {self.outcome}" + (f" — {'; '.join(bits)}" if bits else "")


class Rotation:
    """Runs the state machine for one domain at a time.

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

    # ------------------------------------------------------------ entry points

    def rotate(self, policy: DomainPolicy, *, dry_run: bool = False) -> DomainResult:
        """Start a rotation (or resume a pending one) and retire keys that are due."""
        return self._run(policy, dry_run=dry_run, rotate=True)

    def retire(self, policy: DomainPolicy, *, dry_run: bool = False) -> DomainResult:
        """Only step 6: withdraw and destroy keys past their retire_after time."""
        return self._run(policy, dry_run=dry_run, rotate=False)

    def _run(self, policy: DomainPolicy, *, dry_run: bool, rotate: bool) -> DomainResult:
        res = DomainResult(policy.name, dry_run=dry_run)
        try:
            if dry_run:
                self._plan(policy, res, rotate)
                return res
            if self.ports is None:
                raise StepFailed("no ports given: a real run needs DNS and host access")
            with self.ks.lock(policy.name):
                self._sweep(policy, res)
                if rotate:
                    self._rotate(policy, res)
                elif not res.retired:
                    res.step("nothing due for retirement" + self._next_retirement(policy.name))
        except (StepFailed, KeystoreError, ValueError) as e:
            res.fail(str(e))
        except OSError as e:
            res.fail(f"keystore I/O failed ({e}); the last committed step stands — fix the "
                     f"cause and run `mailops rotate-dkim {policy.name}` again")
        return res

    # ------------------------------------------------------------ port calls

    def _call(self, domain: str, what: str, func, *args):
        try:
            return func(*args)
        except Exception as e:  # any port failure stops this domain, loudly
            raise StepFailed(
                f"{what} failed ({type(e).__name__}: {e}). The keystore records how far the "
                f"rotation got; run `mailops rotate-dkim {domain}` again to resume."
            ) from e

    # ------------------------------------------------------------ step 6

    def _due(self, domain: str) -> list[Key]:
        now = self.clock()
        return [
            k for k in self.ks.keys(domain)
            if k.state == RETIRING and k.retire_after is not None and k.retire_after <= now
        ]

    def _sweep(self, policy: DomainPolicy, res: DomainResult) -> None:
        d = policy.name
        due = self._due(d)
        if not due:
            return
        due_sel = {k.selector for k in due}
        to_withdraw = [k for k in due if not k.done("withdrawn")]
        if to_withdraw:
            keep = [DkimRecord.of(k) for k in self.ks.published(d) if k.selector not in due_sel]
            self._call(d, "withdrawing " + ", ".join(k.record_name for k in to_withdraw),
                       self.ports.publish, d, keep)
            for k in to_withdraw:
                self.ks.mark_withdrawn(d, k.selector)
                res.withdrawn.append(k.selector)
                res.step(f"withdrew TXT {k.record_name} (retire-after "
                         f"{fmt_time(k.retire_after)} passed)")
        for k in due:
            k = self.ks.key(d, k.selector)
            self._call(d, f"destroying {k.selector}'s private key on the hosts",
                       self.ports.destroy_on_hosts, d, k)
            self.ks.destroy(d, k.selector)
            res.retired.append(k.selector)
            res.step(f"destroyed the private key of {k.selector} on the hosts and in the "
                     "keystore; it is retired")

    # ------------------------------------------------------------ steps 1-5

    def _rotate(self, policy: DomainPolicy, res: DomainResult) -> None:
        d = policy.name
        pending = self.ks.pending_key(d)
        if pending is None:
            pending = self.ks.create_pending(d, policy.algorithm)
            res.generated = pending.selector
            res.step(f"generated {pending.selector} ({pending.algorithm}), pending")
        else:
            res.step(f"resuming the rotation to {pending.selector} ({pending.algorithm}), "
                     f"pending since {fmt_time(pending.since)}")
            if pending.algorithm != policy.algorithm:
                res.notes.append(
                    f"{pending.selector} is {pending.algorithm} but the inventory now says "
                    f"{policy.algorithm}; finishing this rotation, rotate again to switch"
                )
        sel = pending.selector

        records = [DkimRecord.of(k) for k in self.ks.published(d)]
        self._call(d, f"publishing TXT {pending.record_name}", self.ports.publish, d, records)
        self.ks.record(d, sel, "published")
        others = [r.name for r in records if r.selector != sel]
        res.step(f"published TXT {pending.record_name}"
                 + (f", kept {', '.join(others)}" if others else ""))

        visible = self._call(d, f"waiting for {pending.record_name}", self.ports.wait_visible,
                             d, pending.record_name, pending.txt_value, self.wait_timeout)
        if not visible:
            raise StepFailed(
                f"timed out after {self.wait_timeout:g}s waiting until every authoritative name "
                f"server of the zone serves TXT {pending.record_name}. {sel} stays pending and "
                "nothing signs with it; the current key keeps signing. Check that the DNS "
                "provider accepted the record and that secondaries transfer the zone "
                f"(`dig +norecurse TXT {pending.record_name} @<each NS>`), then run "
                f"`mailops rotate-dkim {d}` again to resume."
            )
        self.ks.record(d, sel, "visible")
        res.step(f"saw {pending.record_name} on every authoritative name server")

        previous = self.ks.signing_key(d)
        self._call(d, f"deploying {sel} to the hosts", self.ports.deploy, d, pending)
        self.ks.record(d, sel, "deployed")
        res.step(f"deployed {sel} to every host signing for {d} and reloaded OpenDKIM")

        try:
            ok = bool(self.ports.probe(d, pending))
            why = "a probe message signed on the host did not verify against DNS"
        except Exception as e:  # noqa: BLE001 — a probe that crashes is a failed probe
            ok, why = False, f"the probe raised {type(e).__name__}: {e}"
        if not ok:
            self.ks.record(d, sel, "probe-failed")
            rollback = self._rollback(d, previous)
            raise StepFailed(
                f"PROBE FAILED for {sel}: {why}. {sel} was NOT made active. {rollback} "
                f"Inspect OpenDKIM on the hosts (journalctl -u opendkim) and the record "
                f"{pending.record_name}, then run `mailops rotate-dkim {d}` again."
            )
        res.step(f"probe: a message signed with {sel} on the hosts verified against DNS")

        grace = grace_period(policy.queue_lifetime, self.margin)
        retire_after = self.clock() + grace
        self.ks.activate(d, sel, retire_after)
        res.activated = sel
        if previous is not None:
            res.retiring.append(previous.selector)
            res.step(
                f"{sel} is active; {previous.selector} is retiring, its record stays until "
                f"{fmt_time(retire_after)} (queue lifetime "
                f"{_days(timedelta(seconds=policy.queue_lifetime))} + margin {_days(self.margin)})"
            )
        else:
            res.step(f"{sel} is active (the domain had no active key before)")

    def _rollback(self, d: str, previous: Key | None) -> str:
        if previous is None:
            return ("There was no previous key to switch back to: the hosts may be signing "
                    "with the unverified key — fix this first.")
        try:
            self.ports.deploy(d, previous)
        except Exception as e:  # noqa: BLE001 — report it with the probe failure
            return (f"Switching the hosts back to {previous.selector} ALSO FAILED "
                    f"({type(e).__name__}: {e}) — the hosts may be signing with the unverified "
                    "key; run the deploy to restore the active key.")
        return f"The hosts were switched back to the active key {previous.selector}."

    # ------------------------------------------------------------ planning

    def _next_retirement(self, d: str) -> str:
        upcoming = [k for k in self.ks.keys(d) if k.state == RETIRING and k.retire_after]
        if not upcoming:
            return ""
        first = min(upcoming, key=lambda k: k.retire_after)
        return f"; next: {first.selector} after {fmt_time(first.retire_after)}"

    def _plan(self, policy: DomainPolicy, res: DomainResult, rotate: bool) -> None:
        """Say what a real run would do now, reading only the keystore."""
        d = policy.name
        due = self._due(d)
        due_sel = {k.selector for k in due}
        for k in due:
            if not k.done("withdrawn"):
                res.step(f"withdraw TXT {k.record_name} (retire-after "
                         f"{fmt_time(k.retire_after)} passed)")
            res.step(f"destroy the private key of {k.selector} on the hosts and in the keystore")
        if not rotate:
            if not due:
                res.step("do nothing: no key is due for retirement" + self._next_retirement(d))
            return
        pending = self.ks.pending_key(d)
        if pending is not None:
            sel, alg = pending.selector, pending.algorithm
            res.step(f"resume the rotation to {sel} ({alg}), pending since "
                     f"{fmt_time(pending.since)}")
        else:
            taken = {k.selector for k in self.ks.keys(d)} | set(self.ks.orphans(d))
            sel, alg = next_selector(self.clock(), taken), policy.algorithm
            res.step(f"generate a new {alg} key {sel}, pending")
        name = f"{sel}._domainkey.{d}"
        kept = [k.record_name for k in self.ks.published(d)
                if k.selector not in due_sel and k.selector != sel]
        res.step(f"publish TXT {name}" + (f", keeping {', '.join(kept)}" if kept else ""))
        res.step(f"wait up to {self.wait_timeout:g}s until every authoritative name server "
                 "serves it")
        res.step(f"deploy {sel} to every host signing for {d}, switch the SigningTable, "
                 "reload OpenDKIM")
        res.step("probe: sign a message on each host and verify it against DNS "
                 "(stop and switch back if it fails)")
        active = self.ks.signing_key(d)
        grace = grace_period(policy.queue_lifetime, self.margin)
        if active is not None:
            res.step(f"make {sel} active and {active.selector} retiring for {_days(grace)} "
                     f"(queue lifetime {_days(timedelta(seconds=policy.queue_lifetime))} + "
                     f"margin {_days(self.margin)})")
        else:
            res.step(f"make {sel} active")


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
    out = []
    for policy in policies:
        if retire_only:
            out.append(rot.retire(policy, dry_run=dry_run))
        else:
            out.append(rot.rotate(policy, dry_run=dry_run))
    return out


def format_results(results: Sequence[DomainResult]) -> str:
    lines = []
    for r in results:
        lines.append(r.summary())
        lines.extend(f"    - {s}" for s in r.steps)
        lines.extend(f"    ! {n}" for n in r.notes)
    failed = [r.domain for r in results if not r.ok]
    lines.append(
        f"{len(results)} domain(s): {len(results) - len(failed)} ok, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- status


def next_step(key: Key, now: datetime) -> tuple[str, str]:
    """(what happens next to this key, when)."""
    if key.state == PENDING:
        if key.progress and key.progress[-1][0] == "probe-failed":
            return "probe failed: fix the hosts, rotate-dkim retries", "next rotate-dkim"
        for step, text in (
            ("deployed", "probe on the hosts, then activate"),
            ("visible", "deploy to the hosts, probe, activate"),
            ("published", "wait until every authoritative server serves the record"),
        ):
            if key.done(step):
                return text, "next rotate-dkim"
        return "publish the TXT record", "next rotate-dkim"
    if key.state == ACTIVE:
        return "signs; replace with `mailops rotate-dkim`", "when you choose"
    if key.state == RETIRING:
        if key.done("withdrawn"):
            return "destroy the private key on the hosts", "next rotate-dkim / dkim retire"
        when = fmt_time(key.retire_after) if key.retire_after else "?"
        if key.retire_after and key.retire_after <= now:
            when += " (due)"
        return "withdraw the TXT record, destroy the private key", when
    if key.state == RETIRED:
        return "-", "-"
    return "?", "?"


def status_table(keystore: Keystore, domains: Sequence[str], now: datetime) -> str:
    """A table per domain: selector, algorithm, state, since, next step, when."""
    header = ("SELECTOR", "ALGORITHM", "STATE", "SINCE", "NEXT STEP", "WHEN")
    out = []
    for d in domains:
        keys_ = keystore.keys(d)
        out.append(f"{d}")
        if not keys_:
            out.append("  (no keys yet: the first deploy creates one, or run "
                       f"`mailops rotate-dkim {d}`)")
            out.append("")
            continue
        rows = [header]
        for k in keys_:
            step, when = next_step(k, now)
            rows.append((k.selector, k.algorithm, k.state, fmt_time(k.since), step, when))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        for r in rows:
            cells = (c.ljust(w) for c, w in zip(r, widths, strict=True))
            out.append("  " + "  ".join(cells).rstrip())
        for sel in keystore.orphans(d):
            out.append(f"  ! {sel}: key file without history (a run was interrupted); the next "
                       "key generation adopts it")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


__all__ = [
    "ACTIVE",
    "DEFAULT_MARGIN",
    "DEFAULT_WAIT_TIMEOUT",
    "PENDING",
    "RETIRED",
    "RETIRING",
    "DomainPolicy",
    "DomainResult",
    "Rotation",
    "format_results",
    "grace_period",
    "next_step",
    "policies_from_hosts",
    "rotate_dkim",
    "status_table",
]
