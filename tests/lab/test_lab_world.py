"""The lab is a small real world: systemd hosts, SSH, a real BIND, a remote MX."""

import os
import subprocess

import dns.resolver
import pytest
from labtools import deploy, on

from mailops.lab import config

pytestmark = pytest.mark.lab


def test_both_hosts_run_the_debian_release_the_lab_was_built_for(lab):
    suite = config.suite(lab.release)
    assert lab.release == config.release()  # $MAILOPS_LAB_RELEASE, else 13
    for name in ("mx1", "remote"):
        out = on(name, ". /etc/os-release; echo $VERSION_ID $VERSION_CODENAME; "
                       "grep -h '^deb ' /etc/apt/sources.list").stdout
        assert out.splitlines()[0] == f"{lab.release} {suite}"
        assert f" {suite} main" in out and f" {suite}-security main" in out


def test_mx1_runs_systemd_as_pid_1_and_answers_ssh(lab):
    assert on("mx1", "ps -p 1 -o comm=").stdout.strip() == "systemd"
    assert on("mx1", "systemctl is-system-running").stdout.strip() in ("running", "degraded")


def test_mx1_resolves_the_test_zones_through_the_lab_bind(lab):
    out = on("mx1", "getent hosts mx.remote.test ns1.tenant2.test; cat /etc/resolv.conf").stdout
    assert config.machine("remote").address in out
    if "nameserver 127.0.0.1" in out:  # deployed: the host's own unbound forwards there
        unbound = on("mx1", "cat /etc/unbound/unbound.conf").stdout
        assert f"forward-addr: {config.GATEWAY}" in unbound
    else:
        assert f"nameserver {config.GATEWAY}" in out
    # The same BIND answers this machine: it is the one authoritative server.
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [config.GATEWAY]
    assert [a.to_text() for a in r.resolve("mx1.example.test", "A")] == [
        config.machine("mx1").address]
    assert str(r.resolve("remote.test", "MX")[0].exchange) == "mx.remote.test."


def test_mx1_reaches_the_remote_mx_by_name(lab):
    banner = on("mx1", "python3 -c \"import socket; s=socket.create_connection(('mx.remote.test',"
                " 25), 5); print(s.recv(200).decode())\"").stdout
    assert banner.startswith("220 mx.remote.test ESMTP")


def test_apt_works_inside_the_lab_through_the_cache(lab):
    out = on("mx1", "apt-get update -q 2>&1 | tail -1; apt-cache policy postfix | head -3").stdout
    assert "Candidate:" in out and "Candidate: (none)" not in out


def test_a_second_deploy_reports_zero_changes(deployed):
    again = deploy()
    assert again.returncode == 0, again.output[-3000:]
    assert again.changed == 0 and again.errors == 0, again.output[-5000:]
    assert again.unchanged > 0


def test_a_bad_inventory_fails_with_named_fields_and_touches_nothing(lab, tmp_path):
    fs = lab.rootfs("mx1")
    before = subprocess.run(["find", str(fs / "etc"), "-newer", str(fs / "etc/hostname")],
                            capture_output=True, text=True).stdout
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from mailops.inventory import parse_mail_settings\n"
        "MAILOPS = {'hostname': 'mx1.example.test', 'spam_filter': True,\n"
        "  'domains': {'Example..test': {},\n"
        "              'tenant2.test': {'mailboxes': {'carol': {'password_hash': 'hunter2'}}}}}\n"
        "parse_mail_settings(MAILOPS, source='bad.py')\n"
        f"mail_servers = [('mx1', {{'ssh_hostname': '{lab.address('mx1')}',\n"
        "                           'mailops': MAILOPS})]\n"
    )
    result = deploy(str(bad))
    assert result.returncode != 0
    assert "mailops.spam_filter: found an unknown key" in result.output
    assert "mailops.domains.Example..test: found domain name" in result.output
    assert "carol.password_hash: found a value that is not a password hash (not shown)" \
        in result.output
    assert "hunter2" not in result.output.split("problem(s) found")[1]
    assert "Connecting" not in result.output and "Starting operation" not in result.output
    after = subprocess.run(["find", str(fs / "etc"), "-newer", str(fs / "etc/hostname")],
                           capture_output=True, text=True).stdout
    assert after == before


DEBIAN_14 = """PRETTY_NAME="Debian GNU/Linux 14 (forky)"
NAME="Debian GNU/Linux"
VERSION_ID="14"
VERSION="14 (forky)"
VERSION_CODENAME=forky
ID=debian
"""


def test_a_release_mailops_was_not_checked_on_stops_the_deploy_before_any_change(lab):
    fs = lab.rootfs("mx1")
    os_release = fs / "etc/os-release"
    link = os.readlink(os_release) if os_release.is_symlink() else None
    original = None if link else os_release.read_text()
    stamp = fs / "etc/hostname"

    def changed_files():
        out = subprocess.run(["find", str(fs / "etc"), "-newer", str(stamp)],
                             capture_output=True, text=True).stdout
        return sorted(p for p in out.splitlines() if p != str(os_release))

    before = changed_files()
    os_release.unlink()
    os_release.write_text(DEBIAN_14)
    try:
        result = deploy()
    finally:
        os_release.unlink()
        if link:
            os_release.symlink_to(link)
        else:
            os_release.write_text(original)
    assert result.returncode != 0
    assert ("mx1.example.test: found Debian GNU/Linux 14 (forky), a Debian release mailops "
            "has not been checked on") in result.output
    assert "Debian 12 (bookworm), Debian 13 (trixie)" in result.output
    assert "Starting operation" not in result.output
    assert changed_files() == before
