"""``messages`` and ``trace``: what the delivery log knows, as JSON rows.

    python3 -S -m mailops_host messages --json [--since ISO|2h] [--from A] [--to A]
                                        [--state S] [--message-id ID] [--limit N]
                                        [--db PATH]
    python3 -S -m mailops_host trace ID --json [--db PATH]

(ID: a queue id, a Message-ID or an address.) With ``--json`` the answer is one
object ``{"result": [...]}`` (or ``{"error": "..."}``), as every command of the host
package; without it, plain lines for a person on the host. An address filter that
starts with ``@`` matches the whole domain.

A ``messages`` row (one per message and recipient, newest first):
``queue_id, message_id, direction ("in"/"out"), sender, recipient, orig_recipient,
state, folder, reply, dsn, relay, attempts, delay, delays, size, client, origin,
dkim_selector, dkim_domain, spam_action, spam_score, subject, queued_at, updated_at``
(times ISO 8601 UTC; ``recipient`` is null for a queued message no delivery was tried
for yet). A ``trace`` event (oldest first): ``time, queue_id, message_id, sender,
recipient, kind, state, program, text``.
"""

from __future__ import annotations

import datetime as dt
import re

from . import store

DEFAULT_DB = "/var/lib/mailops/delivery/delivery.sqlite3"
_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_QID = re.compile(r"^[0-9A-Za-z]{6,20}$")
TRACE_MESSAGES = 20  # an address names at most this many (newest) messages


def iso(us: int | None) -> str | None:
    if us is None:
        return None
    when = dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def since_us(value: str, now: float | None = None) -> int:
    """``2h`` / ``30m`` / ``7d`` ago, or an ISO 8601 date or date-time (naive = UTC)."""
    value = value.strip()
    m = _RELATIVE.match(value)
    if m:
        import time

        seconds = int(m[1]) * _UNIT_SECONDS[m[2]]
        return int(((time.time() if now is None else now) - seconds) * 1_000_000)
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since: found {value!r}; expected a date-time such as "
                         "2026-12-01T12:00 (UTC unless it names an offset) or an age such "
                         "as 30m, 2h, 7d") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1_000_000)


def _match(column: str, value: str) -> tuple[str, tuple]:
    value = value.strip().strip("<>").lower()
    if value.startswith("@"):
        return f"{column} LIKE ? ESCAPE '\\'", ("%" + _escape(value),)
    return f"{column} = ?", (value,)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


_ROW = """
SELECT m.qid, m.message_id, m.sender, m.origin, m.client, m.size, m.dkim_selector,
       m.dkim_domain, m.spam_action, m.spam_score, m.subject, m.first_us,
       d.recipient, d.orig_recipient, d.direction, COALESCE(d.state, 'queued') AS state,
       d.folder, d.reply, d.dsn, d.relay, COALESCE(d.attempts, 0) AS attempts, d.delay,
       d.delays, COALESCE(d.last_us, m.last_us) AS updated
FROM messages m LEFT JOIN deliveries d ON d.msg = m.id
"""

_ORIGIN_DIRECTION = {"smtp": "in"}


def messages(conn, *, since: int | None = None, sender: str | None = None,
             recipient: str | None = None, state: str | None = None,
             message_id: str | None = None, limit: int = 200) -> list[dict]:
    # A message Postfix removed without a delivery line (an address probe, a message
    # whose lines are older than the journal) has nothing to show.
    where, args = ["(d.id IS NOT NULL OR m.done = 0)"], []
    if since is not None:
        where.append("COALESCE(d.last_us, m.last_us) >= ?")
        args.append(since)
    if sender:
        clause, a = _match("m.sender", sender)
        where.append(clause)
        args.extend(a)
    if recipient:
        c1, a1 = _match("d.recipient", recipient)
        c2, a2 = _match("d.orig_recipient", recipient)
        where.append(f"({c1} OR {c2})")
        args.extend(a1 + a2)
    if message_id:
        bare = message_id.strip().strip("<>")
        where.append("m.message_id IN (?, ?)")
        args.extend((f"<{bare}>", bare))
    if state:
        if state not in store.STATES:
            raise ValueError(f"--state: found {state!r}; expected one of "
                             f"{', '.join(store.STATES)}")
        where.append("COALESCE(d.state, 'queued') = ?")
        args.append(state)
    sql = (f"{_ROW} WHERE {' AND '.join(where)} "
           "ORDER BY updated DESC, m.id DESC, d.id DESC LIMIT ?")
    return [_row(r) for r in conn.execute(sql, (*args, max(1, int(limit))))]


def _row(r) -> dict:
    return {
        "queue_id": r["qid"], "message_id": r["message_id"],
        "direction": r["direction"] or _ORIGIN_DIRECTION.get(r["origin"], "out"),
        "sender": r["sender"], "recipient": r["recipient"],
        "orig_recipient": r["orig_recipient"] or None, "state": r["state"],
        "folder": r["folder"], "reply": r["reply"], "dsn": r["dsn"] or None,
        "relay": r["relay"] or None, "attempts": r["attempts"], "delay": r["delay"],
        "delays": r["delays"] or None, "size": r["size"], "client": r["client"],
        "origin": r["origin"], "dkim_selector": r["dkim_selector"],
        "dkim_domain": r["dkim_domain"], "spam_action": r["spam_action"],
        "spam_score": r["spam_score"], "subject": r["subject"],
        "queued_at": iso(r["first_us"]), "updated_at": iso(r["updated"]),
    }


def _message_ids(conn, ident: str) -> list[int]:
    ident = ident.strip()
    found: list[int] = []
    if _QID.match(ident):
        found += [r[0] for r in conn.execute("SELECT id FROM messages WHERE qid = ?",
                                             (ident,))]
    bare = ident.strip("<>")
    found += [r[0] for r in conn.execute(
        "SELECT id FROM messages WHERE message_id IN (?, ?)", (f"<{bare}>", bare))]
    if not found and "@" in bare:
        address = bare.lower()
        found += [r[0] for r in conn.execute(
            "SELECT DISTINCT m.id FROM messages m LEFT JOIN deliveries d ON d.msg = m.id "
            "WHERE m.sender = ? OR d.recipient = ? OR d.orig_recipient = ? "
            "ORDER BY m.id DESC LIMIT ?", (address, address, address, TRACE_MESSAGES))]
    if not found:
        return []
    # With the notifications (DSNs) about these messages, and what they report on.
    marks = ", ".join("?" * len(found))
    related = conn.execute(
        f"SELECT id FROM messages WHERE parent IN ({marks}) UNION "
        f"SELECT parent FROM messages WHERE id IN ({marks}) AND parent IS NOT NULL",
        (*found, *found)).fetchall()
    return sorted(set(found) | {r[0] for r in related})


def trace(conn, ident: str) -> list[dict]:
    ids = _message_ids(conn, ident)
    if not ids:
        return []
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(
        "SELECT e.ts_us, e.recipient, e.kind, e.state, e.program, e.text, m.qid, "
        "m.message_id, m.sender FROM events e JOIN messages m ON m.id = e.msg "
        f"WHERE e.msg IN ({marks}) ORDER BY e.ts_us, e.id", ids)
    return [{"time": iso(r["ts_us"]), "queue_id": r["qid"], "message_id": r["message_id"],
             "sender": r["sender"], "recipient": r["recipient"], "kind": r["kind"],
             "state": r["state"], "program": r["program"], "text": r["text"]} for r in rows]


# --------------------------------------------------------------------------- commands


def _options(args: list[str], flags: set[str], valued: set[str]) -> tuple[dict, list[str]]:
    opts: dict = {}
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        name, eq, value = arg.partition("=")
        if name in valued:
            value = value if eq else next(it, None)
            if value is None:
                raise ValueError(f"{name} needs a value")
            opts[name] = value
        elif arg in flags:
            opts[arg] = True
        elif arg.startswith("--"):
            raise ValueError(f"unknown option {arg}")
        else:
            rest.append(arg)
    return opts, rest


def command(name: str, args: list[str]) -> dict:
    """``messages …`` or ``trace ID …``: {"result": rows} (plain lines unless --json)."""
    try:
        if name == "messages":
            opts, rest = _options(args, {"--json"}, {"--since", "--from", "--to", "--state",
                                                     "--message-id", "--limit", "--db"})
            if rest:
                raise ValueError(f"unexpected argument {rest[0]!r}")
            with _open(opts) as conn:
                rows = messages(conn, since=since_us(opts["--since"]) if "--since" in opts
                                else None, sender=opts.get("--from"),
                                recipient=opts.get("--to"), state=opts.get("--state"),
                                message_id=opts.get("--message-id"),
                                limit=int(opts.get("--limit", 200)))
        else:
            opts, rest = _options(args, {"--json"}, {"--db"})
            if len(rest) != 1:
                raise ValueError("trace needs one ID: a queue id, a Message-ID or an address")
            with _open(opts) as conn:
                rows = trace(conn, rest[0])
    except ValueError as e:
        return {"error": str(e)}
    if opts.get("--json"):
        return {"result": rows}
    return {"text": [_plain(r) for r in rows]}


def _plain(row: dict) -> str:
    if "text" in row:
        return f"{row['time']} {row['queue_id'] or '-'} {row['program']}: {row['text']}"
    return (f"{row['updated_at']} {row['queue_id'] or '-'} {row['sender'] or '<>'} -> "
            f"{row['recipient'] or '?'} {row['state']} {row['reply'] or ''}").rstrip()


class _open:
    """The database, read as the service writes it (WAL readers never block it)."""

    def __init__(self, opts: dict):
        self.path = opts.get("--db", DEFAULT_DB)

    def __enter__(self):
        import os

        if not os.path.exists(self.path):
            raise ValueError(f"no delivery log at {self.path}; run the deploy (it starts "
                             "mailops-delivery-log.service)")
        self.conn = store.connect(self.path)
        return self.conn

    def __exit__(self, *exc):
        self.conn.close()
