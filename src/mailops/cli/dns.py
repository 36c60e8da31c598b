"""`mailops dns` commands: plan, apply, zone, wait.

The records come from the inventory (and the DKIM keystore) through one pure
function; plan/apply talk to the provider chosen per domain in the inventory,
with credentials from the environment only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="DNS records as code: plan, apply, zone, wait.")

EXIT_OK, EXIT_ERROR, EXIT_PENDING = 0, 1, 2

InventoryOpt = typer.Option(
    None, "-i", "--inventory",
    help="pyinfra inventory file [default: $MAILOPS_INVENTORY, else inventories/lab.py]",
)
DomainsArg = typer.Argument(None, help="Only these hosted domains (default: all).")


# --------------------------------------------------------------------------- plumbing


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_ERROR)


def _run(fn):
    """Run a command body; every expected failure is one clear message and exit 1."""
    from ..dns.providers.base import ProviderError
    from ..dns.records import RecordError
    from ..dns.wait import WaitError
    from ..inventory import SettingsError

    try:
        return fn()
    except (SettingsError, RecordError, ProviderError, WaitError) as e:
        raise _fail(str(e)) from None
    except (RuntimeError, ValueError, OSError) as e:  # keystore, domain filter, files
        raise _fail(str(e)) from None


def _hosts(inventory: Path | None):
    from ..inventory import load_inventory

    path = inventory or Path(os.environ.get("MAILOPS_INVENTORY") or "inventories/lab.py")
    return [h.settings for h in load_inventory(path)]


def _records(hosts, domains):
    from ..dkim.plan import published_keys
    from ..dns.records import records_for_hosts

    records = records_for_hosts(hosts, published_keys(hosts))
    if domains:
        known = {r.domain for r in records}
        unknown = sorted(set(domains) - known)
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: not a domain of this inventory; expected "
                             f"one of {', '.join(sorted(known))}")
        records = [r for r in records if r.domain in domains]
    return records


def _plan(inventory, domains):
    from ..dkim.plan import known_selectors, published_keys
    from ..dns.plan import make_plan

    hosts = _hosts(inventory)
    return make_plan(hosts, published_keys(hosts), domains or (), known_selectors(hosts)), hosts


# --------------------------------------------------------------------------- rendering


def _color() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _short(value: str, limit: int = 96) -> str:
    """Long values (DKIM keys) shortened for reading; --json carries them whole."""
    if len(value) <= limit:
        return value
    return f"{value[:60]}…{value[-20:]} ({len(value.encode())} bytes)"


def render_plan(plans, force: bool = False, color: bool = False) -> str:
    def style(text, fg=None, dim=False, bold=False):
        return typer.style(text, fg=fg, dim=dim, bold=bold) if color else text

    signs = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red")}
    lines: list[str] = []
    counts = {"create": 0, "update": 0, "delete": 0, "kept": 0, "blocked": 0}
    for p in plans:
        where = ", ".join(p.domains)
        if p.kind == "manual":
            lines.append(style(f"zone {p.zone} ({where}): provider manual — no API; publish the "
                               f"output of `mailops dns zone {' '.join(p.domains)}` by hand",
                               dim=True))
            continue
        notes = [style(f"  note: {n}", dim=True) for n in p.notes]
        if not p.changes:
            lines += [f"zone {p.zone} ({p.kind}): up to date", *notes]
            continue
        lines.append(style(f"zone {p.zone} ({p.kind}, {where}):", bold=True))
        lines += notes
        for c in p.changes:
            refused = not c.owned and not force and not c.blocked
            sign, fg = ("!", "magenta") if refused else signs[c.action]
            if c.blocked:
                sign, fg = "x", "red"
            counts["blocked" if c.blocked else "kept" if refused else c.action] += 1
            ttl = f"ttl {c.ttl_after}" if c.ttl_after is not None else f"ttl {c.ttl_before}"
            if c.action == "update" and c.ttl_before != c.ttl_after:
                ttl = f"ttl {c.ttl_before} → {c.ttl_after}"
            verb = "keep  " if refused else f"{c.action}"
            if c.blocked:
                verb = f"BLOCKED {c.action}"
            head = f"  {sign} {verb} {c.key}  {ttl}"
            lines.append(style(head, fg=fg, bold=True))
            for v in c.before:
                if v not in c.after:  # a refused deletion stays: no "-" for it
                    lines.append(style(f"      {'=' if refused else '-'} {_short(v)}",
                                       fg=None if refused else "red"))
            for v in c.after:
                mark = "+" if v not in c.before else " "
                fg = "green" if mark == "+" else None
                lines.append(style(f"      {mark} {_short(v)}", fg=fg))
            lines.append(style(f"      # {c.reason}", dim=True))
            for n in c.notes:
                lines.append(style(f"      ! {n}", fg="yellow"))
            if c.blocked:
                lines.append(style(f"      x not written: {c.blocked}", fg="red"))
        lines.append("")
    pending = counts["create"] + counts["update"] + counts["delete"]
    summary = (f"Plan: {counts['create']} to create, {counts['update']} to update, "
               f"{counts['delete']} to delete.")
    if counts["kept"]:
        summary += (f" {counts['kept']} record(s) not created by mailops kept "
                    "(`--force` deletes them).")
    if not pending:
        summary = "No changes: DNS matches the inventory." + (summary[summary.index(".") + 1:]
                                                              if counts["kept"] else "")
    if counts["blocked"]:
        summary += (f" {counts['blocked']} change(s) BLOCKED (x): apply cannot write them until "
                    "the conflict shown is resolved.")
        if not pending:
            summary = summary.replace("No changes: DNS matches the inventory.",
                                      "Nothing apply can write:")
    lines.append(style(summary, bold=True))
    return "\n".join(lines)


def plan_json(plans, force: bool = False) -> dict:
    return {
        "pending": sum(len(p.pending(force)) for p in plans),
        "blocked": sum(len(p.blocked()) for p in plans),
        "refused": sum(len(p.refused(force)) for p in plans),
        "zones": [{"zone": p.zone, "provider": p.kind, "domains": list(p.domains),
                   "notes": p.notes, "changes": [c.as_dict() for c in p.changes]} for p in plans],
    }


# --------------------------------------------------------------------------- commands


@app.command()
def plan(
    domains: list[str] = DomainsArg,
    inventory: Path = InventoryOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
    force: bool = typer.Option(False, "--force",
                               help="Count deletions of records mailops did not create."),
) -> None:
    """Show what `apply` would change: create (+), update (~), delete (-).

    Reads the live records from each domain's provider and compares them with
    the records the inventory needs. Touches nothing.

    Exit codes: 0 = nothing to do, 2 = changes pending, 1 = error.
    """
    plans, _ = _run(lambda: _plan(inventory, domains))
    if as_json:
        typer.echo(json.dumps(plan_json(plans, force), indent=2))
    else:
        typer.echo(render_plan(plans, force, _color()))
    pending = sum(len(p.pending(force)) + len(p.blocked()) for p in plans)
    raise typer.Exit(EXIT_PENDING if pending else EXIT_OK)


@app.command()
def apply(
    domains: list[str] = DomainsArg,
    inventory: Path = InventoryOpt,
    yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
    force: bool = typer.Option(False, "--force",
                               help="Also delete records mailops did not create."),
    wait: bool = typer.Option(False, "--wait",
                              help="Then wait until every authoritative server serves them."),
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to --wait at most."),
) -> None:
    """Apply the plan after confirmation. An up-to-date zone gets no write at all.

    Exit codes: 0 = applied (or nothing to do), 1 = error or not confirmed.
    """
    from ..dns.plan import apply_plan

    plans, hosts = _run(lambda: _plan(inventory, domains))
    typer.echo(render_plan(plans, force, _color()))
    pending = sum(len(p.pending(force)) for p in plans)
    if not pending and not any(p.blocked() for p in plans):
        raise typer.Exit(EXIT_OK)
    if pending and not yes:
        if not sys.stdin.isatty():
            raise _fail("not applied: confirmation needs a terminal; pass --yes to apply "
                        "without asking")
        if not typer.confirm(f"Apply these {pending} change(s)?", default=False):
            raise _fail("not applied (not confirmed); nothing was changed")
    done = _run(lambda: apply_plan(plans, force))
    typer.echo(f"Applied {done} change(s).")
    if wait:
        records = _run(lambda: _records(hosts, domains))
        _run(lambda: _wait(records, timeout))


@app.command()
def zone(
    domains: list[str] = DomainsArg,
    inventory: Path = InventoryOpt,
) -> None:
    """Print the records as a zone-file fragment, each after its reason (for manual DNS)."""
    from ..dns.zonefile import render

    records = _run(lambda: _records(_hosts(inventory), domains))
    typer.echo(render(records), nl=False)


def _wait(records, timeout: float) -> None:
    from ..dns.wait import wait_for

    tty = sys.stderr.isatty()
    last = [-1]

    def progress(p):
        if tty:
            nxt = f" — waiting for {p.waiting[0]}" if p.waiting else ""
            typer.echo(f"\r{p.ready}/{p.total} served ({p.elapsed:.0f}s){nxt}\x1b[K",
                       err=True, nl=False)
        elif p.ready != last[0]:
            typer.echo(f"{p.ready}/{p.total} record/server pairs served ({p.elapsed:.0f}s)",
                       err=True)
        last[0] = p.ready

    try:
        wait_for(records, timeout=timeout, progress=progress)
    finally:
        if tty:
            typer.echo("", err=True)
    typer.echo(f"All {len(records)} record(s) are served by every authoritative name server.")


@app.command()
def wait(
    domains: list[str] = DomainsArg,
    inventory: Path = InventoryOpt,
    timeout: float = typer.Option(300.0, "--timeout", help="Give up after this many seconds."),
) -> None:
    """Wait until every authoritative name server of each zone serves the expected records.

    Finds each zone's NS set and asks every server directly (no caching
    resolver). $MAILOPS_DNS_NAMESERVERS=host:port,… replaces NS discovery.

    Exit codes: 0 = all served, 1 = timed out or error.
    """
    records = _run(lambda: _records(_hosts(inventory), domains))
    _run(lambda: _wait(records, timeout))
