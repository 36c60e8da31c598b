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

    result = deploy()
    assert result.returncode == 0 and result.errors == 0, result.output[-5000:]
    return result
