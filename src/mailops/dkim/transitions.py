"""The steps of a rotation (1-5) and of retirement (6), one function each.

Each step takes the :class:`~mailops.dkim.turn.Turn` and returns what it would
do (dry run) and what it did (real run); in a dry run it only reads the
keystore, never writes it and never calls a port. rotation.py walks
:data:`RETIREMENT_STEPS` then :data:`ROTATION_STEPS`.
"""

from __future__ import annotations

from datetime import timedelta

from .keystore import fmt_time
from .ports import DkimRecord
from .report import days
from .selectors import next_selector
from .turn import RESUME, Said, Step, StepFailed, Turn, grace_period

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
