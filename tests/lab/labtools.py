"""Small helpers the lab tests share: run pyinfra, run commands on lab hosts."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mailops.lab import config
from mailops.lab.config import LabState
from mailops.lab.proc import pids_mentioning
from mailops.lab.world import ssh_run

REPO = Path(__file__).resolve().parents[2]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class DeployResult:
    returncode: int
    output: str
    changed: int  # operations that changed something, over all hosts
    unchanged: int
    errors: int


def deploy(inventory: str = "inventories/lab.py", *args: str, env: dict | None = None,
           timeout: int = 900, deploy_file: str = "deploy.py") -> DeployResult:
    """Run the real pyinfra CLI, as an operator would, and read its results table."""
    if config.backend() == "vagrant":
        timeout *= 4  # emulated VMs (TCG) deploy several times slower than containers
    proc = subprocess.run(
        [PYINFRA, "-y", *args, inventory, deploy_file],
        cwd=REPO, capture_output=True, text=True, timeout=timeout,
        env={**clean_env(), **(env or {})},
    )
    out = _ANSI.sub("", proc.stdout + proc.stderr)
    m = re.search(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if not m:
        return DeployResult(proc.returncode, out, -1, -1, -1)
    changed, errors, unchanged = (_count(m.group(i)) for i in (2, 3, 4))
    return DeployResult(proc.returncode, out, changed, unchanged, errors)


def clean_env() -> dict[str, str]:
    """What a new user's shell has: no mailops variable but the lab's index (the lab's
    name servers, CA and TSIG key come from inventories/lab.py itself)."""
    keep = ("PATH", "HOME", "LANG", "TERM", "MAILOPS_LAB_INDEX", "MAILOPS_LAB_TLS")
    return {k: os.environ[k] for k in keep if k in os.environ}


def _count(cell: str) -> int:
    return 0 if cell == "-" else int(cell)


def on(machine: str, command: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a shell command as root on a lab machine over SSH."""
    return ssh_run(LabState.load(), machine, command, check=check)


@contextlib.contextmanager
def client_addresses(first: int, count: int) -> Iterator[list[str]]:
    """Extra addresses of this machine on the lab bridge (10.231.N.<first>...), for tests
    that must look like several clients (anvil counts per client address) or must not
    spoil the limits of the address every other test uses. Removed again afterwards."""
    addrs = [f"{config.SUBNET_PREFIX}.{first + i}" for i in range(count)]
    for a in addrs:
        subprocess.run(["ip", "addr", "replace", f"{a}/32", "dev", config.BRIDGE], check=True)
    try:
        yield addrs
    finally:
        for a in addrs:
            subprocess.run(["ip", "addr", "del", f"{a}/32", "dev", config.BRIDGE],
                           check=False, capture_output=True)


def machine_snapshot() -> dict:
    """What this lab may change on this machine: links, mounts, processes.

    Other labs (MAILOPS_LAB_INDEX) may come and go meanwhile, so links and
    mounts of theirs are left out; anything of this lab's is in.
    """
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in links.splitlines()]
    # Other labs' links, and libvirt's (virbrN, vnetN: any VM on this machine, Vagrant
    # labs included, whose own networks `lab down` removes through libvirt).
    theirs = re.compile(r"^(mailopslab|vb-mo|virbr|vnet)\d+")
    ours = re.compile(rf"^(mailopslab{config.INDEX}$|vb-mo{config.INDEX}-)")
    with open("/proc/self/mounts") as f:
        mounts = sorted(line.split()[1] for line in f)
    return {
        "links": sorted(n for n in names if ours.match(n) or not theirs.match(n)),
        "mounts": [m for m in mounts if "mailops-lab" not in m
                   or m.startswith(str(config.state_dir()) + "/")],
        "lab_processes": pids_mentioning(str(config.state_dir()) + "/"),
        "state_dir": config.state_dir().exists(),
    }


def flush_mx1() -> None:
    """Retry mx1's deferred mail now instead of after its backoff (postqueue(1) -f), as
    an operator does once the other side is well again."""
    on("mx1", "postqueue -f")


def flush_mx1_every(seconds: float = 10.0) -> Callable[[], None]:
    """For a wait loop: a call that flushes mx1's queue when ``seconds`` have passed since
    the last flush (or since this was made), so mail a busy receiver deferred is retried
    within the test's deadline instead of after mx1's backoff (minimal_backoff_time)."""
    last = time.monotonic()

    def maybe() -> None:
        nonlocal last
        if time.monotonic() - last > seconds:
            flush_mx1()
            last = time.monotonic()
    return maybe


def flush_resolver(zone: str) -> None:
    """What an operator does after changing records: mx1's resolver forgets the zone (it
    may hold a negative answer from before)."""
    on("mx1", f"unbound-control flush_zone {zone} && unbound-control flush_negative")
