"""Facts (from :mod:`.parse`) applied to the delivery log's tables (:mod:`.store`).

A message is the newest ``messages`` row of its queue id until Postfix logs it
``removed``; each delivery line updates the row of its recipient (and original
recipient: Postfix keeps one queue entry per pair); Dovecot's word on a local delivery
(folder, Sieve discard) is linked to Postfix's line by the LMTP session id Dovecot
puts in its reply, in whichever order the two lines arrive; every fact about a
message is also an event of its timeline.
"""

from __future__ import annotations

import sqlite3

from .parse import LOCAL_AGENTS, REMOTE_AGENTS, Fact, lmtp_session
from .store import STATES

# Where a message came from -> the direction of a recipient not yet delivered.
_ORIGIN_DIRECTION = {"submission": "out", "local": "out", "notification": "out",
                     "smtp": "in"}



class Indexer:
    """Applies facts to the database; ``subjects``: keep Subject header lines."""

    def __init__(self, conn: sqlite3.Connection, *, subjects: bool = False):
        self.conn = conn
        self.subjects = subjects

    # ------------------------------------------------------------------ messages

    def _new(self, f: Fact, origin: str, **cols) -> int:
        cols = {"qid": f.qid, "origin": origin, "first_us": f.ts_us, "last_us": f.ts_us,
                **cols}
        names = ", ".join(cols)
        marks = ", ".join("?" * len(cols))
        cur = self.conn.execute(f"INSERT INTO messages ({names}) VALUES ({marks})",
                                tuple(cols.values()))
        return cur.lastrowid

    def _current(self, f: Fact, *, create: str | None = "local") -> tuple[int, str] | None:
        """(id, origin) of the message the queue id names now; a new row (of origin
        ``create``) when it names none that is still queued."""
        row = self.conn.execute(
            "SELECT id, origin, done FROM messages WHERE qid = ? ORDER BY id DESC LIMIT 1",
            (f.qid,)).fetchone()
        if row is not None and not row[2]:
            self.conn.execute("UPDATE messages SET last_us = MAX(last_us, ?) WHERE id = ?",
                              (f.ts_us, row[0]))
            return row[0], row[1]
        if create is None:
            return (row[0], row[1]) if row is not None else None
        return self._new(f, create), create

    def _set(self, msg: int, **cols) -> None:
        sets = ", ".join(f"{k} = ?" for k in cols)
        self.conn.execute(f"UPDATE messages SET {sets} WHERE id = ?", (*cols.values(), msg))

    def _by_message_id(self, message_id: str, recipient: str) -> int | None:
        """The message Dovecot names by Message-ID: the newest still queued (or with a
        delivery to this recipient) first."""
        if not message_id or message_id == "unspecified":
            return None
        row = self.conn.execute(
            "SELECT m.id FROM messages m WHERE m.message_id = ? ORDER BY m.done, "
            "EXISTS (SELECT 1 FROM deliveries d WHERE d.msg = m.id AND d.recipient = ?) "
            "DESC, m.id DESC LIMIT 1", (message_id, recipient)).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------------ facts

    def apply(self, f: Fact) -> None:
        handler = getattr(self, f"_on_{f.kind}", None)
        if handler is None:
            return
        msg = handler(f)
        if msg is not None:
            self._event(msg, f)

    def _event(self, msg: int, f: Fact, state: str | None = None) -> None:
        self.conn.execute(
            "INSERT INTO events (msg, recipient, ts_us, kind, state, program, text) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (msg, f.data.get("recipient") or None, f.ts_us, f.kind,
             f.data.get("state"), f.program, f.text))

    def _on_client(self, f: Fact) -> int:
        sasl = f.data["sasl_username"]
        return self._new(f, "submission" if sasl else "smtp", client=f.data["client"],
                         sasl_username=sasl or None)

    def _on_pickup(self, f: Fact) -> int:
        return self._new(f, "local", sender=f.data["sender"])

    def _on_message_id(self, f: Fact) -> int:
        msg, _ = self._current(f)
        self._set(msg, message_id=f.data["message_id"])
        return msg

    def _on_queued(self, f: Fact) -> int:
        msg, _ = self._current(f)
        self._set(msg, sender=f.data["sender"], size=f.data["size"], nrcpt=f.data["nrcpt"])
        return msg

    def _on_removed(self, f: Fact) -> int | None:
        found = self._current(f, create=None)
        if found is None:
            return None
        self._set(found[0], done=1)
        return found[0]

    def _on_expired(self, f: Fact) -> int | None:
        found = self._current(f, create=None)
        if found is None:
            return None
        # qmgr(8) returns the message after maximal_queue_lifetime: every recipient
        # still waiting has bounced, with the last reason it was deferred for.
        self.conn.execute(
            "UPDATE deliveries SET state = 'bounced', last_us = ?, reply = "
            "'expired (maximal_queue_lifetime): ' || COALESCE(reply, '') "
            "WHERE msg = ? AND state IN ('deferred', 'queued')", (f.ts_us, found[0]))
        f.data["state"] = "bounced"
        return found[0]

    def _on_notification(self, f: Fact) -> int:
        msg, _ = self._current(f)
        child = Fact("notification", f.ts_us, f.data["notification"], f.program, f.text)
        notice, _ = self._current(child, create="notification")
        self._set(notice, parent=msg, origin="notification")
        return msg

    def _on_subject(self, f: Fact) -> int | None:
        if not self.subjects:
            return None  # personal data: kept only when the inventory says so
        msg, _ = self._current(f)
        self._set(msg, subject=f.data["subject"])
        return msg

    def _on_dkim(self, f: Fact) -> int:
        msg, _ = self._current(f)
        self._set(msg, dkim_selector=f.data["selector"], dkim_domain=f.data["domain"])
        return msg

    def _on_spam(self, f: Fact) -> int:
        msg, _ = self._current(f)
        self._set(msg, spam_action=f.data["action"], spam_score=f.data["score"])
        return msg

    def _on_delivery(self, f: Fact) -> int:
        d = f.data
        msg, origin = self._current(f)
        agent, status = d["agent"], d["status"]
        session = lmtp_session(d["reply"]) if agent == "lmtp" else ""
        if status == "sent":
            state = ("delivered" if agent in LOCAL_AGENTS else
                     "discarded" if agent == "discard" else "sent")
        elif status == "expired":
            state = "bounced"
        else:
            state = status if status in STATES else "deferred"
        direction = ("in" if agent in LOCAL_AGENTS else
                     "out" if agent in REMOTE_AGENTS else _ORIGIN_DIRECTION.get(origin))
        d["state"] = state
        self.conn.execute(
            "INSERT INTO deliveries (msg, recipient, orig_recipient, direction, state, "
            "reply, dsn, relay, attempts, delay, delays, session, first_us, last_us) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?) "
            "ON CONFLICT (msg, recipient, orig_recipient) DO UPDATE SET "
            "direction = excluded.direction, state = excluded.state, "
            "reply = excluded.reply, dsn = excluded.dsn, relay = excluded.relay, "
            "attempts = attempts + 1, delay = excluded.delay, delays = excluded.delays, "
            "session = excluded.session, last_us = MAX(last_us, excluded.last_us)",
            (msg, d["recipient"], d["orig_recipient"], direction, state, d["reply"],
             d["dsn"], d["relay"], d["delay"], d["delays"], session or None, f.ts_us,
             f.ts_us))
        if session:
            # Postfix may log one Dovecot delivery twice (a recipient named directly and
            # through an alias): both rows get the folder, the timeline one event.
            for save in self.conn.execute(
                    "SELECT id, folder, discarded, ts_us, text, recipient, linked "
                    "FROM mailbox_saves WHERE session = ?", (session,)).fetchall():
                self._saved(msg, save["recipient"], save["folder"], save["discarded"])
                if save["linked"]:
                    continue
                self._event(msg, Fact("mailbox", save["ts_us"], f.qid, "dovecot",
                                      save["text"], {"recipient": save["recipient"],
                                                     "state": _saved_state(
                                                         save["discarded"], save["folder"])}))
                self.conn.execute("UPDATE mailbox_saves SET linked = 1 WHERE id = ?",
                                  (save["id"],))
        return msg

    def _saved(self, msg: int, recipient: str, folder: str | None, discarded: int) -> None:
        """Dovecot's word on a local delivery: the folder, or a Sieve discard — final
        although Dovecot answers 250 (RFC 5228 §4.4)."""
        self.conn.execute(
            "UPDATE deliveries SET folder = COALESCE(?, folder), state = CASE WHEN ? "
            "THEN 'discarded' ELSE state END WHERE msg = ? AND recipient = ? "
            "AND state IN ('delivered', 'discarded')", (folder, discarded, msg, recipient))

    def _refused(self, f: Fact, state: str) -> int:
        d = f.data
        submission = "submission" in f.program  # submission/smtpd, submissions/smtpd
        if f.qid is None:  # refused before Postfix queued anything: a message of its own
            msg = self._new(f, "submission" if submission else "smtp", client=d["client"],
                            sender=d["sender"], done=1)
            origin = "submission" if submission else "smtp"
        else:
            msg, origin = self._current(f)
            if d["sender"]:
                self._set(msg, sender=d["sender"])
        d["state"] = state
        self.conn.execute(
            "INSERT INTO deliveries (msg, recipient, direction, state, reply, dsn, "
            "first_us, last_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (msg, recipient, orig_recipient) DO UPDATE SET "
            "state = excluded.state, reply = excluded.reply, dsn = excluded.dsn, "
            "last_us = excluded.last_us",
            (msg, d["recipient"], _ORIGIN_DIRECTION.get(origin, "in"), state,
             f"{d['stage']}: {d['reply']}", _dsn_of(d["reply"]), f.ts_us, f.ts_us))
        return msg

    def _on_reject(self, f: Fact) -> int:
        return self._refused(f, "rejected")

    def _on_discard(self, f: Fact) -> int:
        return self._refused(f, "discarded")

    def _on_hold(self, f: Fact) -> int:
        return self._refused(f, "queued")

    def _on_mailbox(self, f: Fact) -> int | None:
        d = f.data
        discarded = int(d["action"] == "discarded")
        folder = d["folder"] or None
        d["state"] = _saved_state(discarded, folder)
        row = self.conn.execute(
            "SELECT msg FROM deliveries WHERE session = ? AND recipient = ? LIMIT 1",
            (d["session"], d["recipient"])).fetchone() if d["session"] else None
        if row is None and d["session"]:
            # Dovecot logs before it answers: Postfix's line, naming the session, follows.
            self.conn.execute(
                "INSERT INTO mailbox_saves (session, recipient, message_id, folder, "
                "discarded, ts_us, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (d["session"], d["recipient"], d["message_id"], folder, discarded,
                 f.ts_us, f.text))
            return None
        msg = row[0] if row else self._by_message_id(d["message_id"], d["recipient"])
        if msg is not None:
            self._saved(msg, d["recipient"], folder, discarded)
        return msg


def _saved_state(discarded: int, folder: str | None) -> str | None:
    return "discarded" if discarded else "delivered" if folder else None


def _dsn_of(reply: str) -> str:
    """The enhanced status code (RFC 3463) in an SMTP reply, e.g. "5.7.1"."""
    parts = reply.split()
    for p in parts[:2]:
        if len(p) >= 5 and p[0] in "245" and p[1] == "." and p.count(".") == 2:
            return p
    return ""

