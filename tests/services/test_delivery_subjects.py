"""The subject rule the delivery log asks Postfix for, read by the real postmap(1)."""

from __future__ import annotations

import subprocess

import pytest

from mailops.inventory import parse_mail_settings
from mailops.services import delivery_log
from mailops.services.render import render

pytestmark = pytest.mark.services


def lookup(table, header: str) -> str:
    """What Postfix's regexp table answers for one header line (postmap -q)."""
    (table.parent / "main.cf").write_text("compatibility_level = 3.6\n")
    out = subprocess.run(["/usr/sbin/postmap", "-c", str(table.parent), "-q", header,
                          f"regexp:{table}"], capture_output=True, text=True, timeout=30)
    assert out.returncode in (0, 1) and out.stderr == "", out.stderr  # 1: no match
    return out.stdout.strip()


@pytest.mark.parametrize("kept", [True, False])
def test_postfix_logs_the_subject_header_only_when_subjects_are_kept(tmp_path, kept):
    settings = parse_mail_settings({"hostname": "mx1.example.test",
                                    "domains": {"example.test": {}},
                                    "delivery_log": {"subjects": kept}})
    table = tmp_path / "subject_logging"
    table.write_text(render("postfix/subject_logging.j2",
                            **delivery_log.postfix_context(settings)))
    assert lookup(table, "Subject: Quarterly numbers") == ("INFO" if kept else "")
    assert lookup(table, "From: alice@example.test") == ""
