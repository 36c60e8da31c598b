"""`mailops check [DOMAIN...] -i INV [--json]`: the mail system as the world sees it.

One report per hosted domain and per mail host (mailops.checks.posture): ✓ fine,
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
    """Check MX, reverse DNS, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, certificates, open relay
    and blocklists against the inventory. Exit 1 if anything is ✗."""
    from ..checks.posture import FAIL, render, run_checks
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
    findings = run_checks(str(path), hosts, domains or (), relay_rcpt=relay_to)
    if as_json:
        typer.echo(json.dumps({"ok": not any(f.status == FAIL for f in findings),
                               "findings": [f.as_dict() for f in findings]}, indent=2,
                              ensure_ascii=False))
    else:
        typer.echo(render(findings))
    if any(f.status == FAIL for f in findings):
        raise typer.Exit(EXIT_FAILED)
