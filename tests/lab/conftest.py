"""The lab tier: one real lab per test session, brought up by the suite itself."""

from __future__ import annotations

import os

import pytest
from labtools import machine_snapshot

from mailops.lab import world


@pytest.fixture(scope="session")
def before_lab() -> dict:
    """The machine as it was before this session's lab (leftovers of old runs removed)."""
    if os.geteuid() != 0:
        pytest.fail("lab tests need root (nspawn, mounts, bridges); run the suite as root")
    world.down(log=lambda *_: None)
    return machine_snapshot()


@pytest.fixture(scope="session")
def lab(before_lab):
    state = world.up(log=lambda msg: print(f"lab: {msg}"))
    yield state
    world.down(log=lambda *_: None)


@pytest.fixture(scope="session")
def deployed(lab):
    """mx1 converged by the real deploy, once per session."""
    from labtools import deploy

    result = deploy("inventories/lab.py", "--diff")
    assert result.returncode == 0 and result.errors == 0, result.output[-5000:]
    return result


@pytest.fixture(scope="session")
def lab_env(lab) -> dict:
    """The environment an operator would export for the lab: the TSIG key for its BIND."""
    return {**os.environ, "MAILOPS_TSIG": ":".join(lab.tsig),
            "MAILOPS_INVENTORY": "inventories/lab.py"}


@pytest.fixture(scope="session")
def lab_dns(deployed, lab_env):
    """Every record the inventory implies, published with the real `mailops dns apply`."""
    import subprocess
    import sys
    from pathlib import Path

    from labtools import REPO

    mailops = str(Path(sys.executable).with_name("mailops"))
    result = subprocess.run([mailops, "dns", "apply", "--yes", "-i", "inventories/lab.py"],
                            cwd=REPO, env=lab_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result
