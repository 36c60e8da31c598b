"""The bounce hook as Postfix runs it: a subprocess, stdlib only, real SQLite."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from mailops.bounce import verp
from mailops.services import onhost

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "bounces"
SECRET = "hook-test-secret-0123456789abcdef"


@pytest.fixture
def host(tmp_path):
    """The host package installed as the deploy installs it (its tarball, its install
    script), under a temporary folder instead of /usr/local/lib/mailops."""
    onhost.install_local(tmp_path / "lib")
    (tmp_path / "secret").write_text(SECRET + "\n")
    return tmp_path


def run_hook(host, message: bytes, sender="MAILER-DAEMON", recipient="bounces@example.org",
             busy_ms=100, extra=()):
    # -S: no site-packages, so a third-party import would fail; -E: ignore
    # PYTHON* variables.  This is how master.cf runs it.
    cmd = [sys.executable, "-S", "-E", str(host / "lib" / onhost.PACKAGE / "hook.py"),
           "--db", str(host / "bounces.sqlite3"), "--quarantine", str(host / "quarantine"),
           "--secret-file", str(host / "secret"), *extra, sender, recipient]
    env = {"PATH": os.environ.get("PATH", ""), "MAILOPS_BOUNCE_BUSY_TIMEOUT_MS": str(busy_ms)}
    return subprocess.run(cmd, input=message, capture_output=True, env=env, timeout=60, cwd=host)


def rows(host, sql):
    conn = sqlite3.connect(host / "bounces.sqlite3")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def token_rcpt(recipient):
    return verp.return_path(SECRET.encode(), recipient, "example.org")


def test_hook_records_a_verified_hard_bounce_and_suppresses_the_recipient(host):
    msg = (FIXTURES / "postfix_user_unknown.eml").read_bytes()
    proc = run_hook(host, msg, recipient=token_rcpt("no.such.user@example.net"))
    assert proc.returncode == 0, proc.stderr
    assert rows(host, "SELECT recipient, status, reason, verified FROM bounces") == [
        ("no.such.user@example.net", "5.1.1", "userunknown", 1)]
    assert rows(host, "SELECT address, source FROM suppression") == [
        ("no.such.user@example.net", "hard-bounce")]
    assert rows(host, "PRAGMA journal_mode") == [("wal",)]


def test_hook_runs_as_a_module_too(host, tmp_path):
    msg = (FIXTURES / "qmail_mailbox_full.eml").read_bytes()
    cmd = [sys.executable, "-S", "-E", "-m", "mailops.bounce.hook", "--db",
           str(host / "bounces.sqlite3"), "--quarantine", str(host / "quarantine"),
           "MAILER-DAEMON", "bounces@example.org"]
    proc = subprocess.run(cmd, input=msg, capture_output=True, cwd=ROOT / "src", timeout=60,
                          env={"PATH": os.environ.get("PATH", "")})
    assert proc.returncode == 0, proc.stderr
    assert rows(host, "SELECT recipient FROM bounces") == [("stuffed@example.net",)]


def test_unparseable_message_is_quarantined_and_recorded_with_exit_0(host):
    junk = b"Subject: hello\n\nnothing to see here\n"
    proc = run_hook(host, junk)
    assert proc.returncode == 0, proc.stderr
    files = list((host / "quarantine").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == junk
    assert oct(files[0].stat().st_mode & 0o777) == "0o600"
    assert rows(host, "SELECT kind, quarantine FROM messages") == [("not-bounce", str(files[0]))]


def test_forged_bounce_is_recorded_but_suppresses_nobody(host):
    msg = (FIXTURES / "postfix_user_unknown.eml").read_bytes()
    proc = run_hook(host, msg, sender="someone@evil.example",
                    recipient=token_rcpt("no.such.user@example.net"))
    assert proc.returncode == 0
    assert rows(host, "SELECT verified FROM bounces") == [(0,)]
    assert rows(host, "SELECT COUNT(*) FROM suppression") == [(0,)]


def test_locked_database_tempfails_and_the_retry_records_every_bounce(host):
    msg = (FIXTURES / "postfix_two_recipients.eml").read_bytes()
    assert run_hook(host, msg).returncode == 0  # creates the database
    locker = sqlite3.connect(host / "bounces.sqlite3", isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        proc = run_hook(host, msg)
        assert proc.returncode == 75, proc.stderr
        assert b"locked" in proc.stderr
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    proc = run_hook(host, msg)  # Postfix's retry
    assert proc.returncode == 0, proc.stderr
    assert rows(host, "SELECT COUNT(*) FROM messages") == [(2,)]
    assert rows(host, "SELECT COUNT(*) FROM bounces") == [(4,)]


def test_unwritable_database_location_tempfails(host):
    msg = (FIXTURES / "postfix_user_unknown.eml").read_bytes()
    (host / "not-a-dir").write_text("x")
    proc = run_hook(host, msg, extra=("--db", str(host / "not-a-dir" / "b.sqlite3")))
    assert proc.returncode == 75


def test_unwritable_quarantine_tempfails_instead_of_losing_the_message(host):
    (host / "not-a-dir").write_text("x")
    proc = run_hook(host, b"garbage", extra=("--quarantine", str(host / "not-a-dir" / "q")))
    assert proc.returncode == 75


def test_bad_command_line_tempfails_rather_than_bouncing(host):
    proc = run_hook(host, b"", extra=("--no-such-option",))
    assert proc.returncode == 75


def test_hook_output_never_contains_the_secret(host):
    msg = (FIXTURES / "postfix_user_unknown.eml").read_bytes()
    proc = run_hook(host, msg, recipient=token_rcpt("no.such.user@example.net"),
                    extra=("--db", str(host / "missing-dir" / "x" / "b.sqlite3")))
    assert SECRET.encode() not in proc.stdout + proc.stderr


def test_the_hook_reads_its_settings_from_the_environment(host):
    # The hook reads its environment without importing os (posix.environ): a database
    # named only by MAILOPS_BOUNCE_DB is the one written.
    msg = (FIXTURES / "postfix_user_unknown.eml").read_bytes()
    cmd = [sys.executable, "-S", "-E", str(host / "lib" / onhost.PACKAGE / "hook.py"),
           "--quarantine", str(host / "quarantine"), "--secret-file", str(host / "secret"),
           "MAILER-DAEMON", "bounces@example.org"]
    env = {"PATH": os.environ.get("PATH", ""),
           "MAILOPS_BOUNCE_DB": str(host / "from-env.sqlite3")}
    proc = subprocess.run(cmd, input=msg, capture_output=True, env=env, timeout=60, cwd=host)
    assert proc.returncode == 0, proc.stderr
    conn = sqlite3.connect(host / "from-env.sqlite3")
    try:
        assert conn.execute("SELECT recipient FROM bounces").fetchall() == [
            ("no.such.user@example.net",)]
    finally:
        conn.close()
