"""`mailops check [DOMAIN...] -i INV [--json]`: the mail system as the world sees it.

Every record `mailops dns plan` publishes, as the authoritative servers serve it, then the
signing probe, MTA-STS over HTTPS, certificates, open relay, reverse DNS and blocklists
(mailops.checks.posture). One report per hosted domain and per mail host: ✓ fine,
✗ broken (with what was found, what was expected, what it breaks and what to run),
! not checked. Exit code 0 when nothing is ✗, 1 when something is, 2 on a usage or
inventory error. ``--json`` prints one JSON document for monitoring.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer

EXIT_FAILED = 1
EXIT_ERROR = 2


def check(
    domains: list[str] = typer.Argument(None, help="only these hosted domains (and their hosts)"),
    inventory: Path = typer.Option(
        None, "-i", "--inventory",
        help="pyinfra inventory file [default: $MAILOPS_INVENTORY, else inventories/lab.py]"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
    relay_to: str = typer.Option(
        "", "--relay-probe-to",
        help="outside address for the open-relay probe (RCPT only, never DATA) "
             "[default: mailops-relay-probe@gmail.com]"),
) -> None:
    """Check every DNS record `dns plan` publishes (MX, A/AAAA, SPF, DKIM, DMARC, MTA-STS,
    TLS-RPT), DKIM signing, the MTA-STS policy, certificates, open relay, reverse DNS and
    blocklists against the inventory. Exit 1 if anything is ✗."""
    from ..checks.posture import FAIL, render, run_checks
    from ..dns.records import RecordError
    from ..inventory import SettingsError, load_inventory

    path = inventory or Path(os.environ.get("MAILOPS_INVENTORY") or "inventories/lab.py")
    try:
        hosts = load_inventory(path)
    except SettingsError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    known = {d.name for h in hosts for d in h.settings.domains}
    unknown = [d for d in domains or [] if d not in known]
    if unknown:
        typer.echo(f"found {', '.join(unknown)}, which {path} does not host; expected one of "
                   f"{', '.join(sorted(known))}", err=True)
        raise typer.Exit(EXIT_ERROR)
    try:
        findings = run_checks(str(path), hosts, domains or (), relay_rcpt=relay_to)
    except RecordError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(EXIT_ERROR) from None
    if as_json:
        typer.echo(json.dumps({"ok": not any(f.status == FAIL for f in findings),
                               "findings": [f.as_dict() for f in findings]}, indent=2,
                              ensure_ascii=False))
    else:
        typer.echo(render(findings))
    if any(f.status == FAIL for f in findings):
        raise typer.Exit(EXIT_FAILED)
