"""The operator commands reach a lab host however pyinfra's inventory names it.

The lab's mx1 named as a Vagrant machine: a stand-in ``vagrant`` on PATH answers
``vagrant status`` and ``vagrant ssh-config`` with mx1's address and the lab's key,
as Vagrant does for a VM, so pyinfra's @vagrant connector finds the host and its
ssh connector logs in; the commands then run the host package there, as for
``inventories/lab.py``. No mailops variable is exported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from labtools import REPO, clean_env

pytestmark = pytest.mark.lab

MAILOPS = str(Path(sys.executable).with_name("mailops"))

FAKE_VAGRANT = """#!/bin/sh
case "$1" in
status) echo "1700000000,mx1,state,running" ;;
ssh-config) printf 'Host mx1\\n  HostName {address}\\n  User root\\n  Port 22\\n'
            printf '  IdentityFile {key}\\n\\n' ;;
*) exit 1 ;;
esac
"""

INVENTORY = """
import runpy
_lab = runpy.run_path({lab!r})
mail_servers = [("@vagrant/mx1", {{
    "mailops": _lab["MAILOPS"],
    "ssh_known_hosts_file": {known!r},
    "ssh_strict_host_key_checking": "yes",
}})]
"""


@pytest.fixture
def as_vagrant(lab, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    vagrant = bindir / "vagrant"
    vagrant.write_text(FAKE_VAGRANT.format(address=lab.address("mx1"), key=lab.ssh_key))
    vagrant.chmod(0o755)
    inventory = tmp_path / "vagrant_lab.py"
    inventory.write_text(INVENTORY.format(lab=str(REPO / "inventories" / "lab.py"),
                                          known=str(lab.known_hosts)))
    env = clean_env()
    env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
    return inventory, env


def mailops(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([MAILOPS, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


def test_bounce_and_suppression_commands_reach_a_vagrant_named_host(deployed, as_vagrant):
    inventory, env = as_vagrant
    added = mailops(env, "suppression", "add", "vagrant-route@remote.test", "-i", str(inventory))
    assert added.returncode == 0, added.stdout + added.stderr
    assert added.stdout.strip().startswith("@vagrant/mx1: vagrant-route@remote.test")
    # The same database the lab inventory's host sees: it is the same machine.
    listed = mailops(clean_env(), "suppression", "list", "--json", "-i", "inventories/lab.py")
    assert "vagrant-route@remote.test" in {r["address"] for r in json.loads(listed.stdout)}
    removed = mailops(env, "suppression", "remove", "vagrant-route@remote.test",
                      "-i", str(inventory))
    assert removed.returncode == 0 and "no longer suppressed" in removed.stdout
