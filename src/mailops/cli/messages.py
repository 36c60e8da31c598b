"""`mailops messages`, `mailops trace ID`, `mailops send-test ADDRESS`: what happened to
a message, from the delivery log every host keeps (mailops.delivery).

Every host of the inventory is asked through its pyinfra connector, as by every other
command (-i FILE, default $MAILOPS_INVENTORY, else inventories/lab.py).
"""

from __future__ import annotations

import json

import typer

from .bounces import _INVENTORY_HELP, _fail, _hosts, _short, _table
from .progress import Progress

_STATES = "queued, deferred, sent, delivered, bounced, rejected, discarded"


def _address_or_domain(value: str | None, flag: str) -> str | None:
    from ..inventory import is_address, is_domain

    if value is None:
        return None
    text = value.strip().strip("<>").lower()
    if text.startswith("@") and is_domain(text[1:]):
        return text
    if not is_address(text):
        _fail(f"{flag}: found {value!r}; expected an address such as bob@example.com, or "
              "@example.com for a whole domain", 2)
    return text


def messages(
    since: str = typer.Option(None, "--since", help="Only messages seen since then: an age "
                              "(30m, 2h, 7d) or a UTC date-time (2026-12-01T12:00)."),
    sender: str = typer.Option(None, "--from", help="Only this envelope sender (or @domain)."),
    recipient: str = typer.Option(None, "--to", help="Only this recipient (or @domain); an "
                                  "alias matches the mailboxes it expanded to."),
    state: str = typer.Option(None, "--state", help=f"Only this state: {_STATES}."),
    limit: int = typer.Option(200, "--limit", min=1, help="At most this many rows."),
    as_json: bool = typer.Option(False, "--json", help="A JSON array, one object per row."),
    inventory: str = typer.Option(None, "-i", "--inventory", help=_INVENTORY_HELP),
) -> None:
    """Messages on every host, newest first: one line per message and recipient with its
    state and the other side's last reply."""
    from ..delivery import fetch
    from ..onhost.delivery.query import since_us

    if state is not None and state not in fetch.STATES:
        _fail(f"--state: found {state!r}; expected one of {_STATES}", 2)
    if since is not None:
        try:
            since_us(since)  # the hosts parse it the same way; refuse it before asking them
        except ValueError as e:
            _fail(str(e), 2)
    try:
        rows = fetch.messages(_hosts(inventory), since=since,
                              sender=_address_or_domain(sender, "--from"),
                              recipient=_address_or_domain(recipient, "--to"), state=state,
                              limit=limit)
    except fetch.DeliveryLogError as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not rows:
        typer.echo("no messages" + (f" since {since}" if since else "") + " in the "
                   "delivery log")
        return
    _table(("UPDATED", "HOST", "QUEUE ID", "DIR", "FROM", "TO", "STATE", "TRIES", "REPLY"),
           [(r["updated_at"][:19].replace("T", " "), r["host"], r["queue_id"] or "-",
             r["direction"], r["sender"] or "<>", r["recipient"] or "?",
             r["state"] + (f" ({r['folder']})" if r["folder"] else ""), r["attempts"],
             _short(r["reply"], 70)) for r in rows])


def trace(
    ident: str = typer.Argument(..., metavar="ID",
                                help="A queue id, a Message-ID or an address."),
    as_json: bool = typer.Option(False, "--json", help="A JSON array, one object per event."),
    inventory: str = typer.Option(None, "-i", "--inventory", help=_INVENTORY_HELP),
) -> None:
    """One message's timeline across hosts (for an address: its latest messages), oldest
    first: received, signed, queued, each delivery attempt with the reply, removed."""
    from ..delivery import fetch

    try:
        events = fetch.trace(_hosts(inventory), ident)
    except (fetch.DeliveryLogError, ValueError) as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(events, indent=2, ensure_ascii=False))
        return
    if not events:
        _fail(f"found nothing for {ident!r} in the delivery log of any host; expected a "
              "queue id, a Message-ID or an address seen within the log's retention")
    # One block per message (a bounce's notification is a message of its own), in the
    # order they began; each block in time order.
    groups: dict[tuple, list[dict]] = {}
    for e in events:
        groups.setdefault((e["host"], e["queue_id"], e["message_id"]), []).append(e)
    for (host, qid, message_id), block in groups.items():
        typer.echo(f"{host} {qid or 'NOQUEUE'}  {message_id or '(no Message-ID)'}  "
                   f"from <{block[0]['sender'] or ''}>")
        for e in block:
            state = f" [{e['state']}]" if e["state"] else ""
            typer.echo(f"  {e['time'][11:23]} {e['program']:<18} {e['text']}{state}")


def send_test(
    address: str = typer.Argument(..., help="Who receives the test message."),
    sender: str = typer.Option(None, "--from", help="Envelope sender and From: an address "
                               "of a hosted domain (default: postmaster@ the first "
                               "domain of the first host)."),
    timeout: int = typer.Option(120, "--timeout", min=1, help="Seconds to wait for the "
                                "outcome in the delivery log."),
    as_json: bool = typer.Option(False, "--json", help="The result as a JSON object."),
    inventory: str = typer.Option(None, "-i", "--inventory", help=_INVENTORY_HELP),
) -> None:
    """Send a test message through the host (sendmail on the host: no password), wait for
    its outcome in the delivery log, print it — with the receiver's Authentication-Results
    when its mailbox is readable. Exit 0 when delivered, 1 otherwise."""
    from ..delivery import fetch, sendtest

    address = _address_or_domain(address, "ADDRESS")
    if address.startswith("@"):
        _fail("ADDRESS: found a domain; expected one address", 2)
    sender = _address_or_domain(sender, "--from")
    with Progress("send-test") as progress:
        progress.step(f"{address}: submit and wait for the outcome (up to {timeout}s)")
        try:
            result = sendtest.send_test(_hosts(inventory), address, sender=sender,
                                        timeout=timeout, on_progress=progress.detail)
        except (sendtest.SendTestError, fetch.DeliveryLogError) as e:
            _fail(str(e))
    if as_json:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print_result(result)
    if not result["delivered"]:
        raise typer.Exit(1)


def _print_result(r: dict) -> None:
    waited = " (still not final: timed out)" if r["timed_out"] else ""
    where = f" to {r['folder']}" if r["folder"] else ""
    typer.echo(f"{r['recipient']}: {r['state'].upper()}{where}{waited} after {r['elapsed']}s")
    typer.echo(f"  from {r['sender']} via {r['host']}, queue id {r['queue_id'] or '-'}, "
               f"Message-ID {r['message_id']}")
    if r["reply"]:
        label = "reason" if r["state"] in ("deferred", "bounced", "rejected") else "reply"
        typer.echo(f"  {label}: {r['reply']}")
    if r["relay"]:
        typer.echo(f"  relay: {r['relay']}  (attempts: {r['attempts']})")
    if r["dkim_selector"]:
        typer.echo(f"  DKIM: signed by {r['dkim_domain']} with selector {r['dkim_selector']}")
    if r["mailbox"] is None:
        if r["delivered"]:
            typer.echo("  received headers: the recipient's mailbox is not readable by "
                       "mailops")
        return
    typer.echo(f"  received at {r['mailbox']}:")
    for value in r["authentication_results"] or ["(no Authentication-Results header)"]:
        typer.echo(f"    Authentication-Results: {' '.join(value.split())}")
    for value in r["received_spf"] or []:
        typer.echo(f"    Received-SPF: {' '.join(value.split())}")
