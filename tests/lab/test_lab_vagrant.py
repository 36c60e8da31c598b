"""The Vagrant backend: the same world, with mx1 and remote as VMs.

Runs only in a lab brought up with MAILOPS_LAB_BACKEND=vagrant (see conftest);
the rest of the lab tier runs against that lab unchanged.
"""

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from labtools import on

from mailops.lab import config, vagrant

pytestmark = [pytest.mark.lab, pytest.mark.vagrant]


def test_mx1_and_remote_are_virtual_machines_and_relay_a_container(lab):
    assert lab.backend == "vagrant"
    for name in vagrant.VM_MACHINES:
        assert on(name, "systemd-detect-virt").stdout.strip() in ("qemu", "kvm")
        assert on(name, "systemd-detect-virt --container", check=False).stdout.strip() == "none"
    assert on("relay", "systemd-detect-virt --container").stdout.strip() == "systemd-nspawn"


def test_the_vms_reach_only_the_lab(lab):
    # Vagrant's management network is isolated: no default route leaves a VM.
    for name in vagrant.VM_MACHINES:
        routes = on(name, "ip -4 route").stdout
        assert "default" not in routes, routes
        assert f"{config.SUBNET_PREFIX}.0/24" in routes


def test_a_vms_file_system_is_seen_and_changed_through_lab_rootfs(lab):
    token = uuid.uuid4().hex
    on("remote", f"echo {token} > /root/seen-from-host")
    assert (lab.rootfs("remote") / "root/seen-from-host").read_text().strip() == token
    (lab.rootfs("mx1") / "root/written-from-host").write_text(token)
    assert on("mx1", "cat /root/written-from-host").stdout.strip() == token


def test_lab_status_names_the_backend_and_sees_the_vms_running(lab):
    mailops = str(Path(sys.executable).with_name("mailops"))
    result = subprocess.run([mailops, "lab", "status", "--json"], capture_output=True,
                            text=True)
    status = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout
    assert status["backend"] == "vagrant"
    assert all(m["running"] and m["ssh"] for m in status["machines"].values())
