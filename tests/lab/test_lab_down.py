"""`mailops lab down` leaves this machine as it was."""

import subprocess
import sys
from pathlib import Path

import pytest
from labtools import machine_snapshot

pytestmark = [pytest.mark.lab, pytest.mark.lab_last]


def test_lab_down_removes_every_process_mount_and_link_it_made(lab, before_lab):
    during = machine_snapshot()
    assert during != before_lab  # the lab really was up
    mailops = str(Path(sys.executable).with_name("mailops"))
    subprocess.run([mailops, "lab", "down"], check=True, capture_output=True)
    assert machine_snapshot() == before_lab
    status = subprocess.run([mailops, "lab", "status"], capture_output=True, text=True)
    assert status.returncode == 1 and "not up" in status.stdout
