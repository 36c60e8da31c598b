"""`mailops bounces …` and `mailops suppression …`: the bounce database on the mail hosts.

(`mailops bounces parse`, offline parsing of bounce files, is in bounces_parse.py.)

Each mail host keeps its own SQLite database (/var/lib/mailops/bounces.sqlite3,
written by the bounce hook, read by Postfix). These commands reach every host of
the inventory through pyinfra's connectors (mailops.hosts.connect: ssh, @local,
@vagrant, @docker, as the deploy does) and run the host package's ``bounces``
command (``python3 -S -m mailops_host``, installed by the deploy) as the hook's
user — the same store code the hook writes with, no copy of the data on this
machine, and the VERP secret never leaves the host (``bounces token`` asks the
host to compute a return path).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

import typer

from .bounces_parse import parse_command

app = typer.Typer(no_args_is_help=True,
                  help="Bounces: parse messages offline, or list what the hosts recorded.")
# Offline parsing lives in its own module; it is a command of this group.
app.command("parse")(parse_command)
suppression_app = typer.Typer(
    no_args_is_help=True,
    help="Recipients Postfix refuses at RCPT time on submission (587/465).")

DEFAULT_INVENTORY = "inventories/lab.py"
_INVENTORY_HELP = ("Inventory file (default: $MAILOPS_INVENTORY, else inventories/lab.py).")

class RemoteError(RuntimeError):
    pass


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _hosts(inventory: str | None, only: str | None = None):
    from ..inventory import SettingsError, load_inventory

    path = inventory or os.environ.get("MAILOPS_INVENTORY") or DEFAULT_INVENTORY
    try:
        hosts = load_inventory(path)
    except SettingsError as e:
        _fail(str(e), 2)
    if only:
        hosts = [h for h in hosts if h.name == only]
        if not hosts:
            _fail(f"found no host {only!r} in {path}; expected one of its host names", 2)
    return hosts


def run_on_host(host, op: str, **params: Any) -> Any:
    """Run one store operation on ``host`` and return its result (RemoteError if not).

    The host package's ``bounces`` command (mailops_host.query), as the hook's user:
    it owns the database and reads the VERP secret, which never leaves the host.
    """
    from ..hosts import package
    from ..services import bounce as mh

    params = {"op": op, "db": mh.BOUNCE_DB, "secret": mh.BOUNCE_SECRET, **params}
    out = package.call(host, "bounces", json.dumps(params), user=mh.BOUNCE_USER)
    if "error" in out:
        raise RemoteError(out["error"])
    return out["result"]


def _each(hosts, op: str, **params: Any) -> list[tuple[Any, Any]]:
    results = []
    for h in hosts:
        try:
            results.append((h, run_on_host(h, op, **params)))
        except RemoteError as e:
            _fail(str(e))
    return results


def _table(header: tuple[str, ...], rows: list[tuple]) -> None:
    if not rows:
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _since(value: str | None) -> str | None:
    """A date or date-time (ISO 8601; naive = UTC) as the store's UTC text."""
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--since: found {value!r}; expected a date such as 2024-05-01 or a date-time "
              "such as 2024-05-01T12:00 (UTC unless it names an offset)", 2)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _address(value: str) -> str:
    from ..inventory import is_address

    address = value.strip().strip("<>").strip().lower()
    if not is_address(address):
        _fail(f"found {value!r}; expected an e-mail address such as someone@example.com", 2)
    return address


def _short(text: str | None, width: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- bounces


@app.command("list")
def bounces_list(
    since: str = typer.Option(None, "--since", help="Only bounces received at or after this "
                              "date/time (UTC), e.g. 2024-05-01."),
    recipient: str = typer.Option(None, "--recipient", help="Only bounces for this address."),
    limit: int = typer.Option(1000, "--limit", min=1, help="At most this many per host."),
    as_json: bool = typer.Option(False, "--json", help="A JSON array (one object per bounce)."),
    inventory: str = typer.Option(None, "-i", "--inventory", help=_INVENTORY_HELP),
) -> None:
    """Bounces recorded on each host, newest first: recipient, status, reason, class, and
    whether the bounce was verified (VERP token or a Message-ID the host sent)."""
    params: dict[str, Any] = {"since": _since(since), "limit": limit}
    if recipient:
        params["recipient"] = _address(recipient)
    rows = [{"host": h.name, **row} for h, result in _each(_hosts(inventory), "bounces",
                                                           **params) for row in result]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no bounces recorded" + (f" since {params['since']}" if since else ""))
        return
    _table(("RECEIVED", "HOST", "RECIPIENT", "ACTION", "STATUS", "REASON", "CLASS", "VERIFIED",
            "DIAGNOSTIC"),
           [(r["received_at"], r["host"], r["recipient"], r["action"], r["status"] or "",
             r["reason"], "hard" if r["hard"] else ("soft" if r["counts_soft"] else "-"),
             r["verified_by"] or "no", _short(r["diagnostic"])) for r in rows])


@app.command("token")
def bounces_token(
    address: str = typer.Argument(..., help="The recipient the message goes to."),
    domain: str = typer.Option(None, "--domain", help="The hosted domain of the return path "
                               "(default: the host's first domain)."),
    host_name: str = typer.Option(None, "--host", help="The inventory host that will send "
                                  "(default: the first one serving the domain)."),
    inventory: str = typer.Option(None, "-i", "--inventory", help=_INVENTORY_HELP),
) -> None:
    """Print the VERP return path (MAIL FROM) for one recipient: bounces+<token>@<domain>.

    The host computes it with its secret (valid 30 days); send from that host with it as
    the envelope sender, and a bounce for that recipient is verified by its token.
    """
    hosts = _hosts(inventory, host_name)
    if domain:
        hosts = [h for h in hosts if domain in {d.name for d in h.settings.domains}]
        if not hosts:
            _fail(f"found no host serving {domain!r}; expected a hosted domain of the "
                  "inventory", 2)
    host = hosts[0]
    domain = domain or host.settings.domains[0].name
    try:
        typer.echo(run_on_host(host, "token", address=_address(address), domain=domain))
    except RemoteError as e:
        _fail(str(e))


# --------------------------------------------------------------------------- suppression


@suppression_app.command("list")
def suppression_list(
    as_json: bool = typer.Option(False, "--json", help="A JSON array (one object per entry)."),
    inventory: str = typer.Option(None, "-i", "--inventory", help=_INVENTORY_HELP),
) -> None:
    """Suppressed recipients on each host, with why and since when."""
    rows = [{"host": h.name, **row}
            for h, result in _each(_hosts(inventory), "suppression-list") for row in result]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no suppressed recipients")
        return
    _table(("ADDRESS", "HOST", "SOURCE", "STATUS", "REASON", "SINCE", "NOTE"),
           [(r["address"], r["host"], r["source"], r["status"], r["reason"], r["created_at"],
             _short(r["note"], 40)) for r in rows])


@suppression_app.command("add")
def suppression_add(
    address: str = typer.Argument(..., help="The recipient to refuse."),
    note: str = typer.Option("", "--note", help="Why (shown by `suppression list`)."),
    inventory: str = typer.Option(None, "-i", "--inventory", help=_INVENTORY_HELP),
) -> None:
    """Refuse ADDRESS as a recipient on submission, on every host (5.7.1 at RCPT)."""
    address = _address(address)
    for h, added in _each(_hosts(inventory), "suppression-add", address=address, note=note):
        typer.echo(f"{h.name}: {address} " + ("suppressed" if added else "was already "
                                               "suppressed (left as it was)"))


@suppression_app.command("remove")
def suppression_remove(
    address: str = typer.Argument(..., help="The recipient to accept again."),
    inventory: str = typer.Option(None, "-i", "--inventory", help=_INVENTORY_HELP),
) -> None:
    """Lift the suppression of ADDRESS on every host (its past soft bounces stop counting)."""
    address = _address(address)
    for h, removed in _each(_hosts(inventory), "suppression-remove", address=address):
        typer.echo(f"{h.name}: {address} " + ("no longer suppressed" if removed
                                               else "was not suppressed"))
