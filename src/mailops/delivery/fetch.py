"""Read the delivery log of every host of an inventory.

Each host answers for itself (the host package's ``messages`` / ``trace`` commands,
src/mailops/onhost/delivery/query.py), reached through pyinfra's connector for it
(mailops.hosts) as every other command; the rows gain a ``host`` key.

- :func:`messages` -> rows, one per message and recipient, newest first. Keys:
  ``host, queue_id, message_id, direction ("in"/"out"), sender, recipient,
  orig_recipient, state (queued, deferred, sent, delivered, bounced, rejected,
  discarded), folder (delivered: INBOX, Junk…), reply (the other side's last reply),
  dsn, relay, attempts, delay (seconds), delays (Postfix's a/b/c/d), size, client,
  origin (smtp, submission, local, notification), dkim_selector, dkim_domain,
  spam_action, spam_score, subject (only when the inventory keeps subjects),
  queued_at, updated_at`` (ISO 8601 UTC, milliseconds, ``Z``).
- :func:`trace` -> the timeline of the messages an id names (a queue id, a Message-ID
  or an address), oldest first. Keys: ``host, time, queue_id, message_id, sender,
  recipient, kind, state, program, text`` (``text``: the log line without its queue id).

A host that cannot answer raises :class:`DeliveryLogError` naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..onhost.delivery.store import STATES

if TYPE_CHECKING:
    from ..inventory import InventoryHost

__all__ = ["STATES", "DeliveryLogError", "messages", "trace"]


class DeliveryLogError(RuntimeError):
    """A host's delivery log could not be read; the message names the host and why."""


def _since_text(since: str | dt.datetime | dt.timedelta | None) -> str | None:
    if since is None or isinstance(since, str):
        return since
    if isinstance(since, dt.timedelta):
        since = dt.datetime.now(dt.UTC) - since
    if since.tzinfo is None:
        since = since.replace(tzinfo=dt.UTC)
    return since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def ask(host: InventoryHost, command: str, *args: str) -> list[dict[str, Any]]:
    """One query on one host, as the delivery log's user; its rows."""
    from ..hosts import package
    from ..services import delivery_log as svc

    out = package.call(host, *svc.query_argv(command, *args), user=svc.USER)
    if "error" in out:
        raise DeliveryLogError(out["error"])
    return [{"host": host.name, **row} for row in out["result"]]


def messages(inv: Iterable[InventoryHost], *, since: str | dt.datetime | dt.timedelta |
             None = None, sender: str | None = None, recipient: str | None = None,
             state: str | None = None, limit: int = 200, message_id: str | None = None
             ) -> list[dict[str, Any]]:
    """Rows from every host, newest first, at most ``limit`` in all.

    ``since``: an ISO 8601 date-time (naive = UTC), an age such as ``"2h"``/``"7d"``, a
    datetime or a timedelta. ``sender``/``recipient``: an address, or ``@domain``.
    ``state``: one of :data:`STATES`. ``message_id``: only that message's rows.
    """
    if state is not None and state not in STATES:
        raise ValueError(f"state: found {state!r}; expected one of {', '.join(STATES)}")
    args = ["--limit", str(int(limit))]
    for flag, value in (("--since", _since_text(since)), ("--from", sender),
                        ("--to", recipient), ("--state", state),
                        ("--message-id", message_id)):
        if value:
            args += [flag, value]
    rows = [row for host in inv for row in ask(host, "messages", *args)]
    rows.sort(key=lambda r: r["updated_at"] or "", reverse=True)
    return rows[:limit]


def trace(inv: Iterable[InventoryHost], ident: str) -> list[dict[str, Any]]:
    """The timeline of the messages ``ident`` names, across hosts, oldest first."""
    ident = ident.strip()
    if not ident:
        raise ValueError("trace: found an empty id; expected a queue id, a Message-ID "
                         "or an address")
    events = [e for host in inv for e in ask(host, "trace", ident)]
    events.sort(key=lambda e: e["time"] or "")
    return events
