"""Mail host benchmarks on the lab, side by side in one run; prints ratios.

    export MAILOPS_LAB_INDEX=<n>
    .venv/bin/mailops lab up && .venv/bin/pyinfra -y inventories/lab.py deploy.py
    .venv/bin/python bench/bench_mailhost.py [--messages 200] [--repeats 3] [--domains 300]

1. DKIM-signed submission throughput versus the same path without the milter:
   N messages over one authenticated 587 session, timed until each DATA is
   accepted (OpenDKIM signs during DATA, so signing is inside the timing).
   The milter is switched off for the second half with a service override
   (`postconf -P`); anvil's per-client message AND recipient rate limits are lifted
   on submission for both halves (a benchmark client is one client sending
   hundreds of messages a minute); every override is removed afterwards.
2. No-op re-deploy wall time versus a bare fact-gathering pyinfra run on the same
   host (what it costs to check everything versus to connect at all), runs
   interleaved so that load on the machine hits both alike.
3. The same no-op re-deploy with ``--domains`` hosted domains (the lab inventory
   plus generated ones: no mailboxes, no MTA-STS names, so no ACME issuance;
   a copy of the lab keystore, so they are signed as the lab's own domains are)
   versus the 2-domain one.
   The host is put back to the lab inventory afterwards.

Load on the machine is printed with the figures: they are wall times.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from mailclients import new_message, smtp, tls_context

from mailops.lab.config import LabState
from mailops.lab.world import ssh_run

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
LAB_INVENTORY = "inventories/lab.py"
# anvil(8) limits per client that a benchmark client would hit (postconf(5)).
LIFTED = ("submission/inet/smtpd_client_message_rate_limit",
          "submission/inet/smtpd_client_recipient_rate_limit")


def submit_many(lab: LabState, count: int) -> float:
    user = "alice@example.test"
    started = time.perf_counter()
    with smtp(587, timeout=60) as s:
        s.starttls(context=tls_context(lab))
        s.login(user, lab.password(user))
        for _ in range(count):
            msg, _ = new_message(user, "bench@remote.test", size=2000)
            s.send_message(msg)
    return count / (time.perf_counter() - started)


def submission(lab: LabState, messages: int, repeats: int) -> tuple[float, float]:
    lift = " ".join(f"'{p}=0'" for p in LIFTED)
    ssh_run(lab, "mx1", f"postconf -P {lift} && postfix reload")
    try:
        time.sleep(1)
        submit_many(lab, 10)  # warm up TLS session caches, OpenDKIM key load
        signed = statistics.median(submit_many(lab, messages) for _ in range(repeats))
        ssh_run(lab, "mx1", "postconf -P 'submission/inet/smtpd_milters=' && postfix reload")
        time.sleep(1)
        submit_many(lab, 10)
        unsigned = statistics.median(submit_many(lab, messages) for _ in range(repeats))
    finally:
        ssh_run(lab, "mx1", "postconf -PX submission/inet/smtpd_milters "
                + " ".join(LIFTED) + " && postfix reload")
    return signed, unsigned


# pyinfra runs as an operator's shell runs it: with Python's byte-code cache. A sandbox
# that sets PYTHONDONTWRITEBYTECODE makes every run compile some 700 modules from
# source (about 1.5 s here), which says nothing about the deploy.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=ENV)
    if proc.returncode:
        sys.exit(f"bench: {' '.join(cmd[1:])} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.perf_counter() - started


def deploy(inventory: str) -> list[str]:
    return [PYINFRA, "-y", inventory, "deploy.py"]


def bare(inventory: str) -> list[str]:
    return [PYINFRA, "-y", inventory, "fact", "server.Hostname"]


def noop_and_bare(inventory: str, repeats: int) -> tuple[float, float]:
    """Median no-op deploy and median bare fact run, interleaved, after converging."""
    run(deploy(inventory))  # converge first: what follows is a true no-op
    noops, bares = [], []
    for _ in range(repeats):
        noops.append(run(deploy(inventory)))
        bares.append(run(bare(inventory)))
    return statistics.median(noops), statistics.median(bares)


def many_domains_inventory(lab: LabState, count: int, folder: Path) -> str:
    """The lab inventory plus generated domains, its keystore a copy of the lab's."""
    keystore = folder / "keystore"
    if (lab.root / "keystore").is_dir():
        shutil.copytree(lab.root / "keystore", keystore)
    else:  # a lab where no test has made a key yet: every domain unsigned, as in the lab
        keystore.mkdir(mode=0o700)
    path = folder / f"lab_{count}_domains.py"
    path.write_text(
        f"exec(open({str(REPO / LAB_INVENTORY)!r}).read())\n"
        f"MAILOPS['keystore'] = {str(keystore)!r}\n"
        f"for _i in range({count} - len(MAILOPS['domains'])):\n"
        "    MAILOPS['domains'][f'bench{_i:03d}.test'] = {\n"
        "        'dns': _RFC2136, 'mta_sts': {'mode': 'none'},\n"
        "        'aliases': {'postmaster': ['alice@example.test']}}\n"
        "check_here(globals())\n")
    return str(path)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--domains", type=int, default=300)
    ap.add_argument("--skip-submission", action="store_true")
    args = ap.parse_args()
    lab = LabState.load()
    print(f"load average at start: {load()} ({os.cpu_count()} CPUs)"
          + ("; PYTHONDONTWRITEBYTECODE unset for the timed runs (byte-code cache on)"
             if "PYTHONDONTWRITEBYTECODE" in os.environ else ""))

    if not args.skip_submission:
        signed, unsigned = submission(lab, args.messages, args.repeats)
        print(f"submission, {args.messages} msgs x{args.repeats} (median): signed "
              f"{signed:.1f} msg/s, without milter {unsigned:.1f} msg/s, "
              f"ratio signed/unsigned = {signed / unsigned:.2f}   [load {load()}]")

    noop2, bare2 = noop_and_bare(LAB_INVENTORY, args.repeats)
    print(f"no-op re-deploy, 2 domains: {noop2:.2f}s vs bare fact run {bare2:.2f}s, "
          f"ratio no-op/bare = {noop2 / bare2:.2f}   [load {load()}]")

    with tempfile.TemporaryDirectory(prefix="mailops-bench-") as tmp:
        many = many_domains_inventory(lab, args.domains, Path(tmp))
        try:
            started = time.perf_counter()
            noop_n, bare_n = noop_and_bare(many, args.repeats)
            took = time.perf_counter() - started
        finally:
            run(deploy(LAB_INVENTORY))  # the host back to the lab inventory
    print(f"no-op re-deploy, {args.domains} domains: {noop_n:.2f}s vs bare fact run "
          f"{bare_n:.2f}s, ratio no-op/bare = {noop_n / bare_n:.2f}; converging to "
          f"{args.domains} domains and timing took {took:.0f}s   [load {load()}]")
    # The 2-domain no-op once more, after: load on a shared machine drifts, so the
    # 300-domain figure is compared with the mean of the runs before and after it.
    noop2_after, bare2_after = noop_and_bare(LAB_INVENTORY, args.repeats)
    print(f"no-op re-deploy, 2 domains again: {noop2_after:.2f}s vs bare fact run "
          f"{bare2_after:.2f}s, ratio no-op/bare = {noop2_after / bare2_after:.2f}   "
          f"[load {load()}]")
    noop2_mean = (noop2 + noop2_after) / 2
    print(f"no-op re-deploy {args.domains} domains vs 2 domains: {noop_n:.2f}s / "
          f"{noop2_mean:.2f}s, ratio = {noop_n / noop2_mean:.2f}")


if __name__ == "__main__":
    main()
