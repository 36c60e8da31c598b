"""Deploying is safe to repeat, precise when something changes, and never shows a secret."""

from __future__ import annotations

import base64
import re

import pytest
from labtools import REPO, deploy, on

pytestmark = pytest.mark.lab

SERVICES = ("postfix", "dovecot", "opendkim")


def main_pids() -> dict[str, str]:
    out = on("mx1", "for s in " + " ".join(SERVICES) + "; do "
             "systemctl show -p MainPID --value $s; done").stdout.split()
    return dict(zip(SERVICES, out, strict=True))


def reloads_since(cursor: str) -> str:
    return on("mx1", f"journalctl -q -o cat --since '{cursor}' -u postfix@- -u postfix -u dovecot "
              "-u opendkim | grep -iE 'reload|starting|stopping|started' || true").stdout


def test_services_are_enabled_and_running(deployed):
    for s in SERVICES:
        assert on("mx1", f"systemctl is-enabled {s}; systemctl is-active {s}").stdout.split() == [
            "enabled", "active"], s


def test_a_second_deploy_changes_nothing_and_restarts_nothing(deployed):
    before = main_pids()
    since = on("mx1", "date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    again = deploy()
    assert again.returncode == 0 and again.changed == 0, again.output[-4000:]
    assert main_pids() == before
    assert reloads_since(since) == ""


def test_changing_one_value_rewrites_only_its_file_and_reloads_only_its_service(deployed,
                                                                               tmp_path):
    inventory = tmp_path / "changed.py"
    inventory.write_text(
        f"exec(open({str(REPO / 'inventories/lab.py')!r}).read())\n"
        "MAILOPS['client_message_rate_limit'] = 77\n"
    )
    before = main_pids()
    try:
        changed = deploy(str(inventory))
        assert changed.returncode == 0, changed.output[-4000:]
        assert on("mx1", "postconf -h smtpd_client_message_rate_limit").stdout.strip() == "77"
        ops = changed_operations(changed.output)
        assert any("main.cf" in op for op in ops), ops
        assert any("reload" in op.lower() and "postfix" in op.lower() for op in ops), ops
        assert not any(s in op.lower() for op in ops for s in ("dovecot", "opendkim")), ops
        assert main_pids() == before  # a reload, not a restart
    finally:
        back = deploy()
        assert back.returncode == 0
    assert on("mx1", "postconf -h smtpd_client_message_rate_limit").stdout.strip() == "120"


def changed_operations(output: str) -> list[str]:
    """Names of operations whose row in pyinfra's results table counts a success (a change)."""
    rows = re.findall(r"^\s{4}(\S.*?)\s{2,}(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$", output, re.MULTILINE)
    return [name for name, _hosts, success, _err, _nc in rows
            if success != "-" and name != "Grand total"]


def test_no_secret_in_diff_output_or_host_logs(lab, deployed, lab_dns):
    keys = sorted((lab.root / "keystore").rglob("*.private")) + sorted(
        (lab.root / "keystore").rglob("*.pem")) + [lab.root / "tls" / "privkey.pem"]
    assert keys, "`mailops dkim rotate` made no DKIM keys in the keystore"
    needles = []
    for path in keys:
        body = b"".join(line for line in path.read_bytes().splitlines()
                        if line and not line.startswith(b"-----"))
        raw = base64.b64decode(body) if body else path.read_bytes()
        needles.append(body[20:60].decode())  # any 40 characters of the key body
        needles.append(base64.b64encode(raw)[20:60].decode())
    # The TSIG secret the deploy hands to certbot, and every mailbox password.
    needles.append(lab.tsig[2])
    needles += [lab.password(a) for a in ("alice@example.test", "bob@example.test",
                                          "carol@tenant2.test")]
    logs = on("mx1", "journalctl -q -o cat --no-pager; cat /var/log/*.log 2>/dev/null").stdout
    rotation = (lab_dns.stdout + lab_dns.stderr) if lab_dns else ""
    for needle in needles:
        assert needle not in deployed.output
        assert needle not in rotation  # its deploys' output is never passed through
        assert needle not in logs
    modes = on("mx1", "stat -c '%a %U %n' /etc/opendkim/keys/*/* /etc/mailops/tls/privkey.pem"
               ).stdout.splitlines()
    assert modes and all(line.startswith("600 ") for line in modes), modes
    assert all(" opendkim " in line for line in modes if "/opendkim/" in line), modes


def test_a_deploy_from_an_empty_keystore_refuses_to_stop_signing_what_dns_knows(lab_dns,
                                                                               tmp_path):
    inventory = tmp_path / "other_laptop.py"
    inventory.write_text(
        f"exec(open({str(REPO / 'inventories/lab.py')!r}).read())\n"
        f"MAILOPS['keystore'] = {str(tmp_path / 'empty-keystore')!r}\n"
    )
    keytable = on("mx1", "cat /etc/opendkim/KeyTable").stdout
    result = deploy(str(inventory))
    assert result.returncode != 0
    assert "already signs example.test" in result.output
    assert "has no key for it" in result.output
    assert on("mx1", "cat /etc/opendkim/KeyTable").stdout == keytable
