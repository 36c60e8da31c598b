"""The delivery log's SQLite database: messages, their recipients, their timeline.

- ``messages``: one row per message Postfix queued (or refused before queueing it):
  queue id, Message-ID, envelope sender, where it came from, size, DKIM selector,
  spam verdict, subject (only when the inventory turns subjects on), first/last seen.
  Postfix reuses short queue ids, so a message is its own row: a queue id names the
  newest row until Postfix logs ``removed`` for it.
- ``deliveries``: one row per message AND recipient — direction, state, folder, the
  last reply of the other side, relay, attempts, delays.
- ``events``: every fact in time order (the line as Postfix, Dovecot or OpenDKIM
  logged it), for ``mailops trace``.
- ``state``: the journal cursor of the last line indexed, written in the same
  transaction as what that line changed (so a restart neither misses nor counts a
  line twice: journalctl(1) ``--after-cursor``).

WAL mode (https://sqlite.org/wal.html): the CLI's queries read while the service
writes. Times are microseconds since the epoch (the journal's __REALTIME_TIMESTAMP).
"""

from __future__ import annotations

import sqlite3

STATES = ("queued", "deferred", "sent", "delivered", "bounced", "rejected", "discarded")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    qid TEXT,
    message_id TEXT,
    sender TEXT,
    origin TEXT NOT NULL,           -- smtp, submission, local, notification
    client TEXT,
    sasl_username TEXT,
    size INTEGER,
    nrcpt INTEGER,
    dkim_selector TEXT,
    dkim_domain TEXT,
    spam_action TEXT,
    spam_score REAL,
    subject TEXT,
    parent INTEGER,                 -- a notification (DSN): the message it reports on
    done INTEGER NOT NULL DEFAULT 0,  -- Postfix removed it from its queue
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_qid ON messages (qid);
CREATE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);
CREATE INDEX IF NOT EXISTS messages_last ON messages (last_us);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    msg INTEGER NOT NULL,
    recipient TEXT NOT NULL,
    orig_recipient TEXT NOT NULL DEFAULT '',  -- the address before alias expansion
    direction TEXT,                 -- in (a mailbox of this host), out (another server)
    state TEXT NOT NULL,
    folder TEXT,                    -- delivered: the mailbox folder (INBOX, Junk)
    reply TEXT,
    dsn TEXT,
    relay TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    delay REAL,
    delays TEXT,
    session TEXT,                   -- the LMTP session in Dovecot's reply
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL,
    -- Postfix keeps (and logs) one queue entry per recipient and original recipient.
    UNIQUE (msg, recipient, orig_recipient)
);
CREATE INDEX IF NOT EXISTS deliveries_recipient ON deliveries (recipient);
CREATE INDEX IF NOT EXISTS deliveries_last ON deliveries (last_us);
CREATE INDEX IF NOT EXISTS deliveries_session ON deliveries (session);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    msg INTEGER NOT NULL,
    recipient TEXT,
    ts_us INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT,
    program TEXT,
    text TEXT
);
CREATE INDEX IF NOT EXISTS events_msg ON events (msg);
-- What Dovecot said it did with a message for a mailbox (LMTP save, Sieve) until the
-- Postfix line of that delivery names the same LMTP session in Dovecot's reply.
CREATE TABLE IF NOT EXISTS mailbox_saves (
    id INTEGER PRIMARY KEY,
    session TEXT,
    recipient TEXT NOT NULL,
    message_id TEXT,
    folder TEXT,
    discarded INTEGER NOT NULL DEFAULT 0,
    ts_us INTEGER NOT NULL,
    text TEXT,
    linked INTEGER NOT NULL DEFAULT 0  -- its event is in the message's timeline
);
CREATE INDEX IF NOT EXISTS mailbox_saves_session ON mailbox_saves (session);
CREATE INDEX IF NOT EXISTS mailbox_saves_ts ON mailbox_saves (ts_us);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT);
"""

def connect(path: str) -> sqlite3.Connection:
    """Open (and create) the database: WAL, schema; transactions are explicit (one batch,
    one transaction: :func:`apply_batch`)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable across application crashes in WAL mode (sqlite.org/pragma.html
    # #pragma_synchronous); after a power loss the last batches may be lost together
    # with the cursor that covered them, so they are read again, not counted twice.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn


def cursor(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM state WHERE key = 'cursor'").fetchone()
    return row[0] if row else None


def forget_cursor(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM state WHERE key = 'cursor'")


def newest_us(conn: sqlite3.Connection) -> int:
    """When the newest line indexed was logged (0 for an empty database)."""
    row = conn.execute("SELECT max(coalesce((SELECT max(last_us) FROM messages), 0), "
                       "coalesce((SELECT max(ts_us) FROM mailbox_saves), 0))").fetchone()
    return row[0]


def apply_batch(conn: sqlite3.Connection, indexer, facts, cursor_value: str | None) -> None:
    """Apply ``facts`` and store ``cursor_value`` in ONE transaction: all or nothing."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for f in facts:
            indexer.apply(f)
        if cursor_value is not None:
            conn.execute("INSERT INTO state (key, value) VALUES ('cursor', ?) "
                         "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         (cursor_value,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def prune(conn: sqlite3.Connection, before_us: int) -> int:
    """Delete messages (with their deliveries and events) last seen before ``before_us``;
    how many messages went."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        old = "SELECT id FROM messages WHERE last_us < ?"
        conn.execute(f"DELETE FROM deliveries WHERE msg IN ({old})", (before_us,))
        conn.execute(f"DELETE FROM events WHERE msg IN ({old})", (before_us,))
        conn.execute("DELETE FROM mailbox_saves WHERE ts_us < ?", (before_us,))
        n = conn.execute("DELETE FROM messages WHERE last_us < ?", (before_us,)).rowcount
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return n
