"""`mailops bounces parse` as an operator uses it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mailops.cli import app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"
runner = CliRunner()


def test_parse_json_prints_one_object_per_message_for_a_directory():
    result = runner.invoke(app, ["bounces", "parse", "--json", str(FIXTURES)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == len(list(FIXTURES.glob("*.eml")))
    by_file = {Path(o["file"]).name: o for o in lines}
    o = by_file["postfix_user_unknown.eml"]
    assert o["kind"] == "dsn"
    assert o["bounces"][0] == {
        "recipient": "no.such.user@example.net", "action": "failed", "status": "5.1.1",
        "replycode": 550, "reason": "userunknown", "hard": True, "permanent": True,
        "diagnostic": "550 5.1.1 <no.such.user@example.net>: Recipient address rejected: "
                      "User unknown in virtual mailbox table",
        "reporting_mta": "mx1.example.org"}
    assert by_file["arf_abuse_complaint.eml"]["kind"] == "arf"
    assert by_file["personal_reply_not_bounce.eml"]["kind"] == "not-bounce"


def test_parse_prints_a_readable_table():
    result = runner.invoke(app, ["bounces", "parse", str(FIXTURES / "postfix_two_recipients.eml")])
    assert result.exit_code == 0
    header, *rows = result.output.splitlines()
    assert header.split() == ["FILE", "KIND", "RECIPIENT", "ACTION", "STATUS", "CODE", "REASON",
                              "CLASS"]
    assert any("full@example.com" in r and "mailboxfull" in r for r in rows)
    assert any("anyone@no-such-domain.example" in r and "hard" in r for r in rows)


def test_parse_splits_an_mbox_into_messages(tmp_path):
    mbox = tmp_path / "bounces.mbox"
    parts = []
    for name in ("qmail_mailbox_full.eml", "postfix_delayed.eml"):
        parts.append(b"From MAILER-DAEMON Tue May 21 10:00:00 2024\n" +
                     (FIXTURES / name).read_bytes().rstrip(b"\n") + b"\n\n")
    mbox.write_bytes(b"".join(parts))
    result = runner.invoke(app, ["bounces", "parse", "--json", str(mbox)])
    assert result.exit_code == 0, result.output
    objs = [json.loads(line) for line in result.output.splitlines()]
    recipients = [o["bounces"][0]["recipient"] for o in objs]
    assert recipients == ["stuffed@example.net", "slow@example.com"]


def test_parse_a_missing_path_is_an_error_not_a_traceback(tmp_path):
    result = runner.invoke(app, ["bounces", "parse", str(tmp_path / "nope.eml")])
    assert result.exit_code == 2


def test_parsing_is_part_of_the_bounces_group_and_the_old_group_is_gone():
    result = runner.invoke(app, ["bounces", "--help"])
    assert result.exit_code == 0
    assert {"parse", "list", "token"} <= {line.split()[1] for line in result.output.splitlines()
                                          if line.startswith("│ ") and len(line.split()) > 1}
    assert runner.invoke(app, ["bounce", "parse", str(FIXTURES)]).exit_code != 0
