"""`mailops bounces …` and `mailops suppression …`: the bounce database on the mail hosts.

(`mailops bounces parse`, offline parsing of bounce files, is in bounces_parse.py.)

Each mail host keeps its own SQLite database (/var/lib/mailops/bounces.sqlite3,
written by the bounce hook, read by Postfix). These commands reach every host of
the inventory over SSH (mailops.hosts.ssh: the inventory's own SSH data) and pipe a
small standard-library Python program into ``python3 -S -`` running as the hook's
user, which uses the store module installed beside the hook — the same code, the
same database path, no copy of the data on this machine. Nothing is installed for
it and the VERP secret never leaves the host (``bounces token`` asks the host to
compute a return path).
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

# Runs on the host as `python3 -S -` (user mailops-bounce); PARAMS is prepended.
# Standard library + the hook's own modules only; one JSON object on stdout.
_REMOTE = r'''
import json, sys
sys.path.insert(0, PARAMS["lib"])

def main(p):
    op = p["op"]
    if op == "token":
        import verp
        secret = verp.load_secret(p["secret"])
        if secret is None:
            return {"error": "no readable VERP secret at " + p["secret"]
                    + "; run the deploy (it makes one on the host)"}
        return {"result": verp.return_path(secret, p["address"], p["domain"])}
    import store
    conn = store.connect(p["db"])
    try:
        if op == "bounces":
            return {"result": store.list_bounces(conn, since=p.get("since"),
                                                 recipient=p.get("recipient"),
                                                 limit=p["limit"])}
        if op == "suppression-list":
            return {"result": store.list_suppressed(conn)}
        if op == "suppression-add":
            return {"result": store.add_suppression(conn, p["address"], p.get("note") or "")}
        if op == "suppression-remove":
            return {"result": store.remove_suppression(conn, p["address"])}
        return {"error": "unknown operation " + op}
    finally:
        conn.close()

try:
    out = main(PARAMS)
except Exception as exc:
    out = {"error": type(exc).__name__ + ": " + str(exc)}
sys.stdout.write(json.dumps(out) + "\n")
'''


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
    """Run one store operation on ``host`` and return its result (RemoteError if not)."""
    from ..hosts import ssh
    from ..services import bounce as mh

    params = {"op": op, "lib": mh.BOUNCE_LIB, "db": mh.BOUNCE_DB,
              "secret": mh.BOUNCE_SECRET, **params}
    program = "import json\nPARAMS = json.loads(" + repr(json.dumps(params)) + ")\n" + _REMOTE
    argv = ["runuser", "-u", mh.BOUNCE_USER, "--", "/usr/bin/python3", "-S", "-"]
    try:
        proc = ssh.run(host, argv, input=program.encode(), timeout=60, check=False)
    except ssh.SshError as e:
        raise RemoteError(str(e)) from None
    lines = proc.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        out = json.loads(lines[-1]) if lines else None
    except ValueError:
        out = None
    if not isinstance(out, dict):
        err = proc.stderr.decode("utf-8", "replace").strip()[-800:]
        hint = ""
        if "runuser" in err or "does not exist" in err or "No such file" in err:
            hint = " — is the bounce pipeline deployed? Run the deploy first."
        raise RemoteError(f"host {host.name}: the bounce store answered nothing usable "
                          f"(exit {proc.returncode}: {err or 'no message'}){hint}")
    if "error" in out:
        raise RemoteError(f"host {host.name}: {out['error']}")
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
