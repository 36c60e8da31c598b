"""The bounce database: SQLite in WAL mode, read by Postfix for RCPT-time refusal.

Standard library only (the hook writes it on the mail host).  No message
bodies are kept: a bounce row holds the recipient, codes, reason and at most
1000 characters of the remote server's diagnostic line.

Schema (``PRAGMA user_version = 1``)::

    messages     one row per message the hook received
                 (id, received_at, kind, envelope_sender, envelope_recipient,
                  message_id, verified, bounce_count, quarantine)
    bounces      one row per recipient of a bounce
                 (id, message_row, received_at, recipient, kind, action, status,
                  replycode, reason, hard, permanent, diagnostic, reporting_mta,
                  message_id, verified, verified_by, counts_soft)
    complaints   one row per ARF complaint recipient (RFC 5965)
                 (id, message_row, received_at, recipient, feedback_type,
                  reporting_mta, message_id, verified, verified_by)
    suppression  address PRIMARY KEY (lowercase), status (the 5.x.x Postfix
                 replies with), reason, source (hard-bounce | soft-bounces |
                 manual), created_at, note, bounce_id
    sent_messages (message_id, recipient) the host sent, for verification of
                 bounces that carry the original Message-ID but no VERP token

Times are UTC ISO 8601 text ("2024-05-01T12:00:00Z"), which sorts.

Postfix: ``POSTFIX_QUERY`` is the ``query =`` line of a sqlite_table(5) map;
use it as ``check_recipient_access proxy:sqlite:/etc/postfix/mailops-suppression.cf``
(proxymap reads the database outside the smtpd chroot).  The proxymap user
(postfix) needs read access to the database file AND write access to its
``-wal``/``-shm`` files and directory, as every WAL reader does.
"""


import time

try:
    # The C module the sqlite3 package re-exports (sqlite3/dbapi2.py: "from _sqlite3
    # import *"), without what that package adds on import: the datetime module and
    # its default adapters (deprecated since Python 3.12; every time here is text).
    # About 2.5 ms of a bounce hook run that must stay near the interpreter's start.
    import _sqlite3 as sqlite3
except ImportError:  # a Python that builds the module under another name
    import sqlite3

from . import classify, verp

SCHEMA_VERSION = 1

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        envelope_sender TEXT,
        envelope_recipient TEXT,
        message_id TEXT,
        verified INTEGER NOT NULL DEFAULT 0,
        bounce_count INTEGER NOT NULL DEFAULT 0,
        quarantine TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS bounces (
        id INTEGER PRIMARY KEY,
        message_row INTEGER REFERENCES messages(id),
        received_at TEXT NOT NULL,
        recipient TEXT NOT NULL,
        kind TEXT NOT NULL,
        action TEXT NOT NULL,
        status TEXT,
        replycode INTEGER,
        reason TEXT NOT NULL,
        hard INTEGER NOT NULL,
        permanent INTEGER NOT NULL,
        diagnostic TEXT,
        reporting_mta TEXT,
        message_id TEXT,
        verified INTEGER NOT NULL,
        verified_by TEXT,
        counts_soft INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX IF NOT EXISTS bounces_recipient ON bounces(recipient, received_at)",
    "CREATE INDEX IF NOT EXISTS bounces_received ON bounces(received_at)",
    """CREATE TABLE IF NOT EXISTS complaints (
        id INTEGER PRIMARY KEY,
        message_row INTEGER REFERENCES messages(id),
        received_at TEXT NOT NULL,
        recipient TEXT NOT NULL,
        feedback_type TEXT,
        reporting_mta TEXT,
        message_id TEXT,
        verified INTEGER NOT NULL,
        verified_by TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS suppression (
        address TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('hard-bounce', 'soft-bounces', 'manual')),
        created_at TEXT NOT NULL,
        note TEXT,
        bounce_id INTEGER
    )""",
    """CREATE TABLE IF NOT EXISTS sent_messages (
        message_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        sent_at TEXT NOT NULL,
        PRIMARY KEY (message_id, recipient)
    )""",
)

# The sqlite_table(5) "query =" line.  Postfix substitutes %s with the lookup
# key (the recipient address, lowercased, with ' doubled like sqlite3's %q);
# access(5): "REJECT text" with an RFC 3463 code first makes Postfix reply
# with that enhanced status code; Postfix itself writes "<address>: Recipient
# address rejected: " before the text, so the text does not name the address again.
POSTFIX_QUERY = (
    "SELECT 'REJECT ' || status || ' recipient suppressed after ' || "
    "CASE source WHEN 'hard-bounce' THEN 'hard bounce' WHEN 'soft-bounces' THEN "
    "'repeated soft bounces' ELSE 'manual suppression' END || ' on ' || "
    "substr(created_at, 1, 10) || ' (mailops)' FROM suppression WHERE address = '%s'"
)


def postfix_map_cf(db_path: str) -> str:
    """The whole sqlite_table(5) file for the suppression map."""
    return f"dbpath = {db_path}\nquery = {POSTFIX_QUERY}\n"


def postfix_lookup(conn: sqlite3.Connection, key: str) -> str | None:
    """Run POSTFIX_QUERY the way Postfix does (for tests and `mailops check`)."""
    sql = POSTFIX_QUERY.replace("%s", key.lower().replace("'", "''"))
    row = conn.execute(sql).fetchone()
    return row[0] if row else None


def utc(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if ts is None else ts))


# --- connection -----------------------------------------------------------

def connect(path: str, *, busy_timeout_ms: int = 2000) -> sqlite3.Connection:
    """Open (creating if needed) the database in WAL mode with a short busy timeout.

    Raises sqlite3.OperationalError ("database is locked", "unable to open",
    "readonly database", "disk I/O error") when it cannot be used right now;
    the hook turns that into EX_TEMPFAIL.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except BaseException:
        conn.close()
        raise
    return conn


# --- verification ---------------------------------------------------------

def is_null_sender(sender: str | None) -> bool:
    """RFC 5321 §4.5.5: bounces are sent with a null reverse-path.

    Postfix pipe(8) expands a null ${sender} to MAILER-DAEMON by default.
    """
    s = (sender or "").strip().strip("<>").strip().lower()
    return s == "" or s.split("@", 1)[0] == "mailer-daemon"


def record_sent(conn: sqlite3.Connection, message_id: str, recipients, *,
                now: float | None = None) -> None:
    """Remember that this host sent ``message_id`` to ``recipients``."""
    at = utc(now)
    with _transaction(conn):
        conn.executemany(
            "INSERT OR IGNORE INTO sent_messages(message_id, recipient, sent_at) VALUES (?, ?, ?)",
            [(message_id.strip(), verp.normalise(r), at) for r in recipients],
        )


def _verify(conn, report, envelope_sender, envelope_recipient, secret, now, max_age_days,
            require_null_sender: bool) -> dict[str, str]:
    """recipient (lowercase) -> how it was verified ("verp" / "message-id")."""
    if require_null_sender and not is_null_sender(envelope_sender):
        return {}
    recipients = [b.recipient for b in report.bounces]
    verified: dict[str, str] = {}
    token = verp.token_from_address(envelope_recipient)
    if token:
        who = verp.check_token(secret, token, recipients, now=now, max_age_days=max_age_days)
        if who:
            verified[who] = "verp"
    if report.message_id:
        rows = conn.execute(
            "SELECT recipient FROM sent_messages WHERE message_id = ?", (report.message_id,)
        ).fetchall()
        sent_to = {r[0] for r in rows}
        for r in recipients:
            if verp.normalise(r) in sent_to:
                verified.setdefault(verp.normalise(r), "message-id")
    return verified


# --- recording ------------------------------------------------------------

class Recorded:
    """What one call to record() wrote."""

    __slots__ = ("message_row", "bounces", "complaints", "verified", "suppressed")

    def __init__(self, message_row: int, verified: list[str]):
        self.message_row = message_row
        self.bounces = 0
        self.complaints = 0
        self.verified = verified
        self.suppressed: list[str] = []


class _transaction:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        return False


def record(conn: sqlite3.Connection, report, *, envelope_sender: str | None,
           envelope_recipient: str | None, secret: bytes | None = None,
           now: float | None = None, quarantine: str | None = None,
           soft_threshold: int = 3, soft_window_days: int = 7,
           token_max_age_days: int = 30) -> Recorded:
    """Record one parsed message (a report.Report, or None if unparseable)
    and apply the suppression policy, in one transaction.

    Policy:
    - only verified bounces suppress (null sender + valid VERP token or a
      Message-ID the host recorded as sent to that recipient);
    - a hard bounce (classify.HARD_REASONS, permanent 5.x.x) suppresses at once;
    - other permanent failures count as soft; ``soft_threshold`` of them
      within ``soft_window_days`` suppress;
    - delays (RFC 3464 "delayed") are warnings and never count;
    - policy/reputation blocks (classify.never_suppresses: 5.7.x, blocked,
      spamdetected, ...) never suppress;
    - complaints (ARF) are recorded, not suppressed.
    """
    at = utc(now)
    kind = report.kind if report is not None else "unparseable"
    with _transaction(conn):
        verified: dict[str, str] = {}
        if report is not None and report.bounces:
            verified = _verify(conn, report, envelope_sender, envelope_recipient, secret, now,
                               token_max_age_days, require_null_sender=kind in ("dsn", "legacy"))
        cur = conn.execute(
            "INSERT INTO messages(received_at, kind, envelope_sender, envelope_recipient,"
            " message_id, verified, bounce_count, quarantine) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (at, kind, envelope_sender, envelope_recipient,
             report.message_id if report else None, 1 if verified else 0,
             len(report.bounces) if report else 0, quarantine),
        )
        result = Recorded(message_row=cur.lastrowid, verified=sorted(verified))
        if report is None or kind not in ("dsn", "legacy", "arf"):
            return result
        for b in report.bounces:
            rcpt = verp.normalise(b.recipient)
            how = verified.get(rcpt)
            if kind == "arf":
                conn.execute(
                    "INSERT INTO complaints(message_row, received_at, recipient, feedback_type,"
                    " reporting_mta, message_id, verified, verified_by)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (result.message_row, at, rcpt, report.feedback_type, b.reporting_mta,
                     b.message_id, 1 if how else 0, how),
                )
                result.complaints += 1
                continue
            counts_soft = bool(how and b.action == "failed" and not b.hard
                               and not classify.never_suppresses(b.status, b.reason))
            cur = conn.execute(
                "INSERT INTO bounces(message_row, received_at, recipient, kind, action, status,"
                " replycode, reason, hard, permanent, diagnostic, reporting_mta, message_id,"
                " verified, verified_by, counts_soft)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (result.message_row, at, rcpt, kind, b.action, b.status, b.replycode, b.reason,
                 int(b.hard), int(b.permanent), (b.diagnostic or "")[:1000], b.reporting_mta,
                 b.message_id, 1 if how else 0, how, int(counts_soft)),
            )
            result.bounces += 1
            bounce_id = cur.lastrowid
            if not how or b.action != "failed" or classify.never_suppresses(b.status, b.reason):
                continue
            if b.hard:
                if _suppress(conn, rcpt, b.status, b.reason, "hard-bounce", at, None, bounce_id):
                    result.suppressed.append(rcpt)
            elif counts_soft:
                since = utc((time.time() if now is None else now) - soft_window_days * 86400)
                (count,) = conn.execute(
                    "SELECT COUNT(*) FROM bounces WHERE recipient = ? AND counts_soft = 1"
                    " AND received_at >= ?", (rcpt, since)).fetchone()
                if count >= soft_threshold and _suppress(
                        conn, rcpt, b.status, b.reason, "soft-bounces", at,
                        f"{count} soft bounces within {soft_window_days} days", bounce_id):
                    result.suppressed.append(rcpt)
    return result


def _reject_status(status: str | None, source: str) -> str:
    if source == "manual":
        return "5.7.1"
    if status and status.startswith("5."):
        return status
    return "5.0.0" if not status else "5." + status[2:]


def _suppress(conn, address, status, reason, source, at, note, bounce_id) -> bool:
    cur = conn.execute(
        "INSERT INTO suppression(address, status, reason, source, created_at, note, bounce_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(address) DO NOTHING",
        (address, _reject_status(status, source), reason, source, at, note, bounce_id),
    )
    return cur.rowcount > 0


# --- the operator's functions (mailops bounces / mailops suppression) ---------

def list_bounces(conn: sqlite3.Connection, *, since: str | None = None,
                 recipient: str | None = None, limit: int = 1000) -> list[dict]:
    """Bounces, newest first; ``since`` is an ISO date/time (UTC)."""
    sql = "SELECT * FROM bounces WHERE 1=1"
    args: list = []
    if since:
        sql += " AND received_at >= ?"
        args.append(since)
    if recipient:
        sql += " AND recipient = ?"
        args.append(verp.normalise(recipient))
    sql += " ORDER BY received_at DESC, id DESC LIMIT ?"
    args.append(int(limit))
    return _rows(conn, sql, args)


def list_complaints(conn: sqlite3.Connection, *, since: str | None = None) -> list[dict]:
    sql = "SELECT * FROM complaints" + (" WHERE received_at >= ?" if since else "")
    return _rows(conn, sql + " ORDER BY received_at DESC, id DESC", [since] if since else [])


def list_suppressed(conn: sqlite3.Connection) -> list[dict]:
    return _rows(conn, "SELECT * FROM suppression ORDER BY created_at DESC, address", [])


def is_suppressed(conn: sqlite3.Connection, address: str) -> bool:
    return conn.execute("SELECT 1 FROM suppression WHERE address = ?",
                        (verp.normalise(address),)).fetchone() is not None


def add_suppression(conn: sqlite3.Connection, address: str, note: str = "", *,
                    now: float | None = None) -> bool:
    """Suppress ``address`` by hand.  False if it was already suppressed."""
    address = verp.normalise(address)
    if "@" not in address:
        raise ValueError(f"{address!r} is not an email address")
    with _transaction(conn):
        return _suppress(conn, address, None, "manual", "manual", utc(now), note or None, None)


def remove_suppression(conn: sqlite3.Connection, address: str) -> bool:
    """Lift a suppression.  False if the address was not suppressed.

    Its past soft bounces stop counting, so the next soft bounce starts a
    fresh count instead of suppressing it again at once.
    """
    address = verp.normalise(address)
    with _transaction(conn):
        cur = conn.execute("DELETE FROM suppression WHERE address = ?", (address,))
        conn.execute("UPDATE bounces SET counts_soft = 0 WHERE recipient = ?", (address,))
        return cur.rowcount > 0


def _rows(conn, sql, args) -> list[dict]:
    cur = conn.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
