"""Mail host benchmarks on the lab, side by side in one run; prints ratios.

    bash .ci/setup && .venv/bin/mailops lab up && .venv/bin/pyinfra -y inventories/lab.py deploy.py
    .venv/bin/python bench/bench_mailhost.py [--messages 200]

1. DKIM-signed submission throughput versus the same path without the milter:
   N messages over one authenticated 587 session, timed until each DATA is
   accepted (OpenDKIM signs during DATA, so signing is inside the timing).
   The milter is switched off for the second half with a service override
   (`postconf -P`), and the deploy is re-run afterwards to restore the host.
2. No-op re-deploy wall time versus a bare fact-gathering pyinfra run on the
   same host (what it costs to check everything versus to connect at all).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "lab"))

from mailclients import new_message, smtp, tls_context

from mailops.lab.config import LabState
from mailops.lab.world import ssh_run

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


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


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    lab = LabState.load()

    # The per-client rate limit (anvil) would stop a benchmark client; lift it on
    # submission for the duration, in both halves alike.
    unlimited = "submission/inet/smtpd_client_message_rate_limit"
    ssh_run(lab, "mx1", f"postconf -P '{unlimited}=0' && postfix reload")
    try:
        time.sleep(1)
        submit_many(lab, 10)  # warm up TLS session caches, OpenDKIM key load
        signed = statistics.median(submit_many(lab, args.messages) for _ in range(args.repeats))
        ssh_run(lab, "mx1", "postconf -P 'submission/inet/smtpd_milters=' && postfix reload")
        time.sleep(1)
        submit_many(lab, 10)
        unsigned = statistics.median(submit_many(lab, args.messages) for _ in range(args.repeats))
    finally:
        ssh_run(lab, "mx1", f"postconf -PX submission/inet/smtpd_milters {unlimited}"
                " && postfix reload")
    print(f"submission, {args.messages} msgs x{args.repeats} (median): signed {signed:.1f} msg/s, "
          f"without milter {unsigned:.1f} msg/s, ratio signed/unsigned = {signed / unsigned:.2f}")

    deploy = [PYINFRA, "-y", "inventories/lab.py", "deploy.py"]
    facts = [PYINFRA, "-y", "inventories/lab.py", "fact", "server.Hostname"]
    timed(deploy)  # converge first: what follows is a true no-op
    noop = statistics.median(timed(deploy) for _ in range(args.repeats))
    bare = statistics.median(timed(facts) for _ in range(args.repeats))
    print(f"no-op re-deploy {noop:.2f}s vs bare fact run {bare:.2f}s, "
          f"ratio = {noop / bare:.2f}")


if __name__ == "__main__":
    main()
