"""The lab tier: one real lab per test session, brought up by the suite itself."""

from __future__ import annotations

import os

import pytest
from labtools import machine_snapshot

from mailops.lab import world


def pytest_collection_modifyitems(config, items):
    """`vagrant` tests check the Vagrant backend: they run only in a lab brought up with
    it (MAILOPS_LAB_BACKEND=vagrant), never in CI's nspawn lab. On VMs without KVM
    bringing the lab up and deploying take far longer than the suite's per-test
    timeout, so lab tests get an hour each there."""
    from mailops.lab.config import backend

    if backend() == "vagrant":
        for item in items:
            if item.get_closest_marker("lab"):
                item.add_marker(pytest.mark.timeout(3600))
    else:
        skip = pytest.mark.skip(reason="Vagrant backend only (MAILOPS_LAB_BACKEND=vagrant)")
        for item in items:
            if item.get_closest_marker("vagrant"):
                item.add_marker(skip)


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
    """A new user's environment: nothing exported for mailops (only the lab's index) —
    inventories/lab.py carries the lab's name servers, CA and TSIG key."""
    from labtools import clean_env

    return clean_env()


def _mailops(*args: str, env: dict, timeout: int = 600):
    import subprocess
    import sys
    from pathlib import Path

    from labtools import REPO

    mailops = str(Path(sys.executable).with_name("mailops"))
    return subprocess.run([mailops, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def lab_records(deployed, lab_env):
    """Every record the inventory implies, published with the real `mailops dns apply`."""
    result = _mailops("dns", "apply", "--yes", "-i", "inventories/lab.py", env=lab_env,
                      timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="session")
def lab_dns(lab, lab_records, lab_env):
    """The lab as an operator leaves it: deployed, its records published and every domain
    signing. A deploy never creates a DKIM key: each domain's first key is published,
    waited for, deployed, probed and activated by `mailops dkim rotate`, as for a new
    tenant in production. Returns that command's result (its output is checked for
    secrets)."""
    from labtools import REPO

    from mailops.dkim.keystore import Keystore
    from mailops.inventory import load_inventory

    hosts = load_inventory(REPO / "inventories/lab.py")
    ks = Keystore(lab.root / "keystore")
    unsigned = sorted({d.name for h in hosts for d in h.settings.domains
                       if ks.signing_key(d.name) is None})
    # The lab zones are not delegated: the inventory names the lab BIND (dns_servers).
    if not unsigned:
        return None
    result = _mailops("dkim", "rotate", *unsigned, "-i", "inventories/lab.py", env=lab_env)
    assert result.returncode == 0, result.stdout + result.stderr
    for domain in unsigned:
        assert f"{domain}: ROTATED" in result.stdout, result.stdout
    return result
