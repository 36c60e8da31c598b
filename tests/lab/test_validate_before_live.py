"""A rendered configuration the service would reject never replaces the live one."""

from __future__ import annotations

import pytest
from labtools import deploy, on
from mailclients import imap_fetch, new_message, submit

pytestmark = pytest.mark.lab


def test_an_invalid_main_cf_stops_the_deploy_and_postfix_keeps_running_the_old_one(
        lab, deployed):
    live = on("mx1", "sha256sum /etc/postfix/main.cf").stdout
    pid = on("mx1", "systemctl show -p MainPID --value postfix").stdout.strip()
    since = on("mx1", "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()

    bad = deploy("inventories/lab.py", deploy_file="tests/lab/deploys/bad_main_cf.py")

    assert bad.returncode != 0, bad.output[-3000:]
    # The checker's own message, and ours saying nothing live was touched.
    assert "bad numerical configuration: message_size_limit = 50M" in bad.output, \
        bad.output[-3000:]
    assert "the check failed on the staged copy" in bad.output
    assert on("mx1", "sha256sum /etc/postfix/main.cf").stdout == live
    assert on("mx1", "postconf -h message_size_limit").stdout.strip() == "52428800"
    assert on("mx1", "systemctl show -p MainPID --value postfix").stdout.strip() == pid
    assert on("mx1", f"journalctl -q -o cat --since '{since}' -u postfix -u postfix@- "
                     "| grep -i reload || true").stdout == ""
    assert on("mx1", "ls -A /etc/mailops/staging").stdout == ""  # no copy left behind

    # Mail still flows through the untouched Postfix: submitted, delivered, readable.
    msg, token = new_message("alice@example.test", "bob@example.test")
    submit(lab, "alice@example.test", msg)
    assert token.encode() in imap_fetch(lab, "bob@example.test", token)

    # And the real deploy finds nothing to change.
    again = deploy()
    assert again.returncode == 0 and again.changed == 0, again.output[-3000:]
