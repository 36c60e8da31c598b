"""The operator commands reach hosts through pyinfra's connectors: ``@local`` and ``@vagrant``.

``@local``: `mailops bounces list` and `mailops suppression add|list` run against
THIS machine, with the host package installed in a temporary folder (never
/usr/local/lib/mailops, never the machine's Postfix) and a bounce the real hook
recorded. ``@vagrant``: a stand-in ``vagrant`` executable answers ``vagrant
status`` and ``vagrant ssh-config`` as Vagrant does; pyinfra's connector turns
that into an SSH host, and its SSH client knocks at the address and port it gave.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailops.cli import app
from mailops.hosts import connect
from mailops.inventory import InventoryHost, parse_mail_settings
from mailops.services import bounce as svc
from mailops.services import onhost

pytestmark = pytest.mark.services

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
MAILOPS = {"hostname": "mx1.example.test", "domains": {"example.test": {}}}


@pytest.fixture
def local_host(tmp_path, monkeypatch):
    """An inventory whose one host is ``@local``, with the host package under tmp_path."""
    if os.geteuid() != 0:
        pytest.skip("runs the host package through runuser(1), which needs root")
    lib = onhost.install_local(tmp_path / "lib").parent
    monkeypatch.setattr(onhost, "HOST_LIB", str(lib))
    monkeypatch.setattr(svc, "BOUNCE_DB", str(tmp_path / "bounces.sqlite3"))
    monkeypatch.setattr(svc, "BOUNCE_SECRET", str(tmp_path / "secret"))
    monkeypatch.setattr(svc, "BOUNCE_USER", "root")
    (tmp_path / "secret").write_text("0123456789abcdef0123456789abcdef\n")
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"mail_servers = [('@local', {{'mailops': {MAILOPS!r}}})]\n")
    hook = [sys.executable, "-S", "-E", str(lib / onhost.PACKAGE / "hook.py"),
            "--db", svc.BOUNCE_DB, "--quarantine", str(tmp_path / "q"),
            "--secret-file", svc.BOUNCE_SECRET, "MAILER-DAEMON", "bounces@example.test"]
    subprocess.run(hook, input=(FIXTURES / "postfix_user_unknown.eml").read_bytes(),
                   check=True, env={"PATH": "/usr/bin:/bin"})
    yield inventory
    connect.close()


def test_bounces_and_suppression_reach_an_at_local_host_through_pyinfra(local_host):
    runner = CliRunner()
    listed = runner.invoke(app, ["bounces", "list", "--json", "-i", str(local_host)])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["host"], r["recipient"], r["status"]) for r in rows] == [
        ("@local", "no.such.user@example.net", "5.1.1")]

    added = runner.invoke(app, ["suppression", "add", "someone@example.org", "--note", "asked",
                                "-i", str(local_host)])
    assert added.exit_code == 0, added.output
    assert added.output.strip() == "@local: someone@example.org suppressed"
    listed = runner.invoke(app, ["suppression", "list", "--json", "-i", str(local_host)])
    suppressed = {r["address"]: r["note"] for r in json.loads(listed.output)}
    assert suppressed["someone@example.org"] == "asked"


def test_a_host_without_the_package_says_to_run_the_deploy(local_host, monkeypatch, tmp_path):
    monkeypatch.setattr(onhost, "HOST_LIB", str(tmp_path / "nothing-here"))
    result = CliRunner().invoke(app, ["bounces", "list", "-i", str(local_host)])
    assert result.exit_code == 1
    assert "host @local:" in result.output and "run the deploy" in result.output


# --------------------------------------------------------------------------- @vagrant

FAKE_VAGRANT = """#!/bin/sh
echo "$*" >> {log}
case "$1" in
status) echo "1700000000,mx1,provider-name,libvirt"; echo "1700000000,mx1,state,running" ;;
ssh-config) printf 'Host mx1\\n  HostName 127.0.0.1\\n  User vagrant\\n  Port {port}\\n\
  UserKnownHostsFile /dev/null\\n  StrictHostKeyChecking no\\n  IdentityFile {key}\\n\\n' ;;
*) exit 1 ;;
esac
"""


def test_a_vagrant_host_is_found_through_vagrant_status_and_ssh_config(tmp_path, monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    heard: list[bytes] = []

    def answer():
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"SSH-2.0-stand-in\r\n")
            heard.append(conn.recv(200))  # the client's identification string (RFC 4253 §4.2)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    key = tmp_path / "key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "vagrant").write_text(FAKE_VAGRANT.format(log=tmp_path / "calls", port=port,
                                                        key=key))
    (bindir / "vagrant").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)  # pyinfra reads an optional @vagrant.json from here

    host = InventoryHost("@vagrant/mx1", {
        "_sudo": True, "ssh_known_hosts_file": str(tmp_path / "known_hosts"),
        "ssh_strict_host_key_checking": "accept-new"}, parse_mail_settings(MAILOPS))
    with pytest.raises(connect.HostError, match="host @vagrant/mx1: could not connect"):
        connect.run(host, ["true"], timeout=10)
    thread.join(timeout=10)
    listener.close()
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == ["status --machine-readable", "ssh-config mx1"]
    # pyinfra's SSH client came to the address and port Vagrant gave.
    assert heard and heard[0].startswith(b"SSH-2.0-")


def test_the_host_datas_sudo_applies_to_every_command_as_to_a_deploy():
    host = InventoryHost("@local", {"_sudo": True, "_sudo_user": "nobody"},
                         parse_mail_settings(MAILOPS))
    try:
        result = connect.run(host, ["id", "-un"], check=False)
    finally:
        connect.close()
    if shutil.which("sudo"):
        assert result.stdout.strip() == "nobody"
    else:  # pyinfra wrapped it in sudo, which this machine lacks
        assert not result.ok and "sudo" in result.stderr
