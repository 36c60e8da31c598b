"""`mailops dkim …` (rotate, status, retire); `mailops rotate-dkim` is `mailops dkim rotate`.

`mailops dkim rotate DOMAIN` is also how a domain starts signing: its first key
takes the same steps as every later one (generate, publish, wait for DNS, deploy,
probe, activate); the deploy alone never creates a key.

Status, dry runs and retirement planning read only the local keystore (and the
inventory for settings); they never need DNS or host access. Real rotations
and retirements go through the ports of ``mailops.dkim.ports.default_ports``.
"""

from __future__ import annotations

import functools
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    no_args_is_help=True,
    help="DKIM keys: start signing a domain or rotate its key (rotate), status, retirement.",
)

DEFAULT_INVENTORY = "inventories/lab.py"

DomainsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Domains to act on (default: every domain in the inventory).",
                   show_default=False),
]
InventoryOpt = Annotated[
    Path,
    typer.Option("-i", "--inventory", envvar="MAILOPS_INVENTORY",
                 help="pyinfra inventory file (env MAILOPS_INVENTORY)."),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the steps a real run would take; change nothing."),
]
MarginOpt = Annotated[
    str,
    typer.Option("--margin", help="Verification margin added to Postfix's maximal_queue_lifetime "
                 "before a retiring key's record is withdrawn, e.g. '7d', '36h', 86400."),
]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option("--keystore", help="Keystore directory (default: the inventory's "
                 "mailops.keystore / MAILOPS_KEYSTORE)."),
]

_DURATION = re.compile(r"^(\d+)\s*([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _error(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _margin(text: str) -> timedelta:
    m = _DURATION.match(text.strip())
    if not m:
        raise _error(f"--margin: found {text!r}; expected a duration such as '7d', '36h' or "
                     "a number of seconds (0 or more)")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


NOW_ENV = "MAILOPS_NOW"


def _clock():
    """The clock of every dkim command: the system clock, or a fixed MAILOPS_NOW.

    A testing and operations aid, read here and nowhere else: MAILOPS_NOW=<ISO 8601
    time with zone, e.g. 2026-12-01T00:00:00Z> makes status, rotation and retirement
    act as if it were that time (the lab tests jump past a grace period with it; an
    operator can preview what `mailops dkim retire --dry-run` will do on a given
    day). Events recorded during such a run carry that time in the key history.
    """
    text = os.environ.get(NOW_ENV, "").strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise _error(f"{NOW_ENV}: found {text!r}; expected an ISO 8601 time with a zone such "
                     "as '2026-12-01T00:00:00Z' (or unset it to use the system clock)")
    fixed = when.astimezone(UTC).replace(microsecond=0)
    return lambda: fixed


def _load(inventory: Path, keystore: Path | None, domains: list[str] | None, *,
          clock=None):
    """(hosts, settings, Keystore, selected DomainPolicy list) or a clear exit."""
    from ..dkim.keystore import Keystore
    from ..dkim.turn import policies_from_hosts
    from ..inventory import SettingsError, load_inventory

    try:
        hosts = load_inventory(inventory)
    except SettingsError as e:
        raise _error(str(e)) from None
    settings = hosts[0].settings
    paths = {h.settings.keystore for h in hosts}
    if keystore is None and len(paths) > 1:
        raise _error(f"{inventory}: hosts name different keystores ({', '.join(map(str, paths))}); "
                     "expected one — pass --keystore")
    ks = Keystore(keystore or settings.keystore, clock=clock)
    policies = policies_from_hosts(hosts)
    if domains:
        unknown = [d for d in domains if d not in policies]
        if unknown:
            raise _error(f"{', '.join(unknown)}: not a domain of {inventory}; expected one of "
                         f"{', '.join(sorted(policies))}")
        selected = [policies[d] for d in domains]
    else:
        selected = [policies[d] for d in sorted(policies)]
    return hosts, settings, ks, selected


def _run(domains, inventory, dry_run, margin, wait_timeout, keystore, *, retire_only: bool):
    from ..dkim.keystore import KeystoreError
    from ..dkim.ports import PortsUnavailable, default_ports
    from ..dkim.report import format_results
    from ..dkim.rotation import rotate_dkim as run
    from .progress import waiting

    margin_td = _margin(margin)
    clock = _clock()
    try:
        if retire_only and dry_run and keystore is not None and not inventory.is_file():
            # Retirement planning needs nothing but the keystore: the retire-after
            # times were fixed when each key started retiring.
            from ..dkim.keystore import Keystore
            from ..dkim.turn import DomainPolicy

            hosts, settings, ks = [], None, Keystore(keystore, clock=clock)
            policies = [DomainPolicy(d) for d in (domains or ks.domains())]
        else:
            hosts, settings, ks, policies = _load(inventory, keystore, domains, clock=clock)
    except KeystoreError as e:
        raise _error(str(e)) from None
    ports = None
    if not dry_run:
        try:
            ports = default_ports(hosts, settings, inventory=inventory,
                                  waiting=functools.partial(waiting, "dkim"))
        except PortsUnavailable as e:
            raise _error(str(e), 1) from None
    try:
        results = run(ks, ports, policies, dry_run=dry_run, retire_only=retire_only,
                      margin=margin_td, wait_timeout=wait_timeout, clock=clock)
    except ValueError as e:
        raise _error(str(e)) from None
    typer.echo(format_results(results))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


@app.command("rotate")
def rotate_dkim(
    domains: DomainsArg = None,
    inventory: InventoryOpt = Path(DEFAULT_INVENTORY),
    dry_run: DryRunOpt = False,
    margin: MarginOpt = "7d",
    wait_timeout: Annotated[float, typer.Option(
        "--wait-timeout", help="Seconds to wait for every authoritative name server to serve "
        "the new record.")] = 600.0,
    keystore: KeystoreOpt = None,
) -> None:
    """Rotate DKIM keys: new key, publish, wait for DNS, deploy, probe, activate; retire old.

    On a domain without a key this starts its signing, through the same steps.
    Safe to interrupt and re-run: a pending rotation resumes where it stopped.
    """
    _run(domains, inventory, dry_run, margin, wait_timeout, keystore, retire_only=False)


@app.command("retire")
def retire(
    domains: DomainsArg = None,
    inventory: InventoryOpt = Path(DEFAULT_INVENTORY),
    dry_run: DryRunOpt = False,
    margin: MarginOpt = "7d",
    keystore: KeystoreOpt = None,
) -> None:
    """Withdraw records of retiring keys past their retire-after time; destroy their keys."""
    _run(domains, inventory, dry_run, margin, 0.0, keystore, retire_only=True)


@app.command("status")
def status(
    domains: DomainsArg = None,
    inventory: InventoryOpt = Path(DEFAULT_INVENTORY),
    keystore: KeystoreOpt = None,
) -> None:
    """Show each domain's keys: selector, algorithm, state, since, next step and when."""
    from ..dkim.keystore import Keystore, KeystoreError, utc_now
    from ..dkim.report import status_table

    clock = _clock() or utc_now
    try:
        if keystore is not None:
            ks = Keystore(keystore)
            names = list(domains or ks.domains())
        else:
            if not inventory.is_file() and os.environ.get("MAILOPS_KEYSTORE"):
                ks = Keystore(os.environ["MAILOPS_KEYSTORE"])
                names = list(domains or ks.domains())
            else:
                _, _, ks, policies = _load(inventory, None, domains)
                names = [p.name for p in policies]
                if not domains:
                    names = sorted(set(names) | set(ks.domains()))
        if not names:
            typer.echo(f"{ks.path}: no DKIM keys yet")
            return
        typer.echo(status_table(ks, names, clock()), nl=False)
    except KeystoreError as e:
        raise _error(str(e)) from None
