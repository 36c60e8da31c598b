"""The daily status mail: host-side checks, mailed to the postmaster when they change.

``python3 -S -m mailops_host status-mail [--dry-run] [--force] [--config PATH]``, run
daily by ``mailops-status-mail.timer`` (tasks/status_mail.py installs both). What it
checks comes from the file the deploy writes (CONFIG, JSON): the units the deploy
manages, the certificates it installs, the blocklists and the host's public
addresses from the inventory, the postmaster address. Findings: see the modules —
system (services, queue, disk, certificates), dnsbl, rates (bounces, deferrals).

The report is mailed only when the digest of its findings (findings.digest: levels
and stable states, never counters or dates) differs from the last one sent;
``--force`` mails it anyway, ``--dry-run`` shows it and mails nothing. The record of
the last report lives in STATE (root only).
"""

from __future__ import annotations

import contextlib
import json
import os
import time

CONFIG = "/etc/mailops/status-mail.json"
STATE = "/var/lib/mailops/status-mail/last-report.json"


def collect(config: dict, now: float) -> list:
    from . import dnsbl, rates, system

    found = [*system.services(config.get("units", [])), *system.queue(now),
             *system.disks(config.get("disks", [])),
             *system.certificates(config.get("certificates", []), now)]
    # "nameservers": for tests only; a host asks the resolvers of /etc/resolv.conf.
    servers = [tuple(s) for s in config.get("nameservers", [])] or None
    zones, addresses = config.get("dnsbl", []), config.get("addresses", [])
    if zones and not addresses:
        from .findings import WARNING, Finding

        found.append(Finding("dnsbl", WARNING, "no address to look up",
                             "the inventory names no ipv4/ipv6 address of this host, so "
                             f"{', '.join(zones)} cannot be asked about it"))
    for zone in zones:
        for ip in addresses:
            found.append(dnsbl.check(zone, ip, servers))
    found += rates.rates(config.get("bounce_db", "/var/lib/mailops/bounces.sqlite3"), now)
    return found


def run(config: dict, *, dry_run: bool = False, force: bool = False,
        now: float | None = None) -> dict:
    now = time.time() if now is None else now
    state_path = config.get("state", STATE)
    with _locked(state_path):  # the timer and a run by hand: one report, not two
        return _run(config, state_path, dry_run, force, now)


@contextlib.contextmanager
def _locked(state_path: str):
    import fcntl

    os.makedirs(os.path.dirname(state_path), mode=0o700, exist_ok=True)
    with open(f"{state_path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(config: dict, state_path: str, dry_run: bool, force: bool, now: float) -> dict:
    from .findings import changes, digest, worst
    from .report import load_state, message, render, save_state, send, subject

    findings = collect(config, now)
    last = load_state(state_path)
    new_digest = digest(findings)
    changed = changes(last.get("findings", {}), findings) if last else []
    due = force or last.get("digest") != new_digest
    body = render(config, findings, changed, last.get("sent_at"), now)
    msg = message(config, subject(config["hostname"], findings, changed), body,
                  worst(findings))
    sent = False
    if due and not dry_run:
        send(config, msg)
        save_state(state_path, new_digest, findings, now)
        sent = True
    out = {"sent": sent, "due": due, "digest": new_digest, "to": config["to"],
           "subject": msg["Subject"], "changes": [c.line() for c in changed],
           "findings": [f.as_dict() for f in findings]}
    if dry_run:
        out["report"] = body
    return out


def command(args: list[str]) -> dict:
    """The command line of ``status-mail``."""
    flags = {"--dry-run", "--force"}
    config_path, rest = CONFIG, []
    i = 0
    while i < len(args):
        if args[i] == "--config" and i + 1 < len(args):
            config_path, i = args[i + 1], i + 2
            continue
        rest.append(args[i])
        i += 1
    unknown = [a for a in rest if a not in flags]
    if unknown:
        return {"error": f"status-mail: unknown argument {unknown[0]!r}; expected "
                         "[--dry-run] [--force] [--config PATH]"}
    try:
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError) as exc:
        return {"error": f"status-mail: cannot read {config_path} ({exc}); the deploy "
                         "writes it when status_mail.enabled is true"}
    return {"result": run(config, dry_run="--dry-run" in rest, force="--force" in rest)}
