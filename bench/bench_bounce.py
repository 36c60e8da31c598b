"""Bounce benchmarks: print ratios measured side by side in one run.

1. Parsing throughput on every message of the shared corpora of real bounces
   (flufl-bounce and sisimai-dev): mailops (parse_bytes: kind, recipients,
   status, reason, hard/permanent) against flufl.bounce on the same messages
   (message_from_bytes + all_failures, which runs every detector and returns
   permanent and temporary addresses; scan_message is timed too).  The speed
   ratio is flufl's time over ours: 1.0x or more means mailops is as fast or
   faster.
2. The hook's wall time per message (a fresh `python3 -S hook.py` process
   writing to SQLite) against `python3 -S -c pass`, both with the system
   Python the mail host runs (/usr/bin/python3): the cost above the
   interpreter start.
3. The same on the lab's mail host, if the lab is up and deployed
   (MAILOPS_LAB_INDEX selects the lab): the installed hook, as its own user, with
   the byte-compiled modules the deploy made, against `python3 -S -c pass` there.
4. The per-axis accuracy on the same corpora (mailops.bounce.score).

Run: uv run python bench/bench_bounce.py [--rounds N]
Not a test; never fails on speed.
"""

from __future__ import annotations

import argparse
import email
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
SYSTEM_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def _time_side_by_side(fns, messages, rounds, reset=lambda: None):
    """Best time of each function over the messages, rounds interleaved so that
    load from elsewhere on the machine falls on all of them alike; one warm-up
    pass first (patterns compiled, modules imported)."""
    for fn in fns:
        for data in messages:
            fn(data)
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            reset()  # no per-text cache carried over from the previous round
            t0 = time.process_time()  # CPU time: other processes' load does not count
            for data in messages:
                fn(data)
            best[i] = min(best[i], time.process_time() - t0)
    return best


def bench_parse(messages, rounds):
    from flufl.bounce import all_failures, scan_message

    from mailops.bounce import classify
    from mailops.bounce.parse import parse_bytes

    def reset():  # no per-text cache carried over from the previous round
        for fn in (classify.reason_from_text, classify._said, classify.find_stage):
            fn.cache_clear()

    t_mailops, t_flufl_all, t_flufl_scan = _time_side_by_side(
        [parse_bytes, lambda d: all_failures(email.message_from_bytes(d)),
         lambda d: scan_message(email.message_from_bytes(d))], messages, rounds, reset=reset)
    n = len(messages)
    print(f"parse: {n} messages (both corpora), best of {rounds} rounds, CPU time")
    for name, t in (("mailops parse_bytes", t_mailops), ("flufl.bounce all_failures", t_flufl_all),
                    ("flufl.bounce scan_message", t_flufl_scan)):
        print(f"  {name:28s} {t * 1000:8.1f} ms  {n / t:8.0f} msg/s")
    print(f"  speed ratio mailops vs flufl.bounce all_failures: {t_flufl_all / t_mailops:.2f}x "
          f"(>= 1 means mailops is as fast or faster)")
    print(f"  speed ratio mailops vs flufl.bounce scan_message: {t_flufl_scan / t_mailops:.2f}x")


def bench_hook(sample: bytes, runs: int):
    hook = ROOT / "src" / "mailops" / "bounce" / "hook.py"
    env = {"PATH": os.environ.get("PATH", "")}
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [SYSTEM_PYTHON, "-S", "-E", str(hook), "--db", f"{tmp}/b.sqlite3",
               "--quarantine", f"{tmp}/q", "--secret-file", f"{tmp}/none",
               "MAILER-DAEMON", "bounces@example.org"]
        base = [SYSTEM_PYTHON, "-S", "-E", "-c", "pass"]
        # What any stdlib bounce hook must import at least: re and sqlite3.
        floor = [SYSTEM_PYTHON, "-S", "-E", "-c", "import re, sqlite3"]
        subprocess.run(cmd, input=sample, env=env, check=True)  # database, __pycache__
        hook_times, base_times, floor_times = [], [], []
        cpu: dict[int, list[float]] = {id(hook_times): [], id(base_times): [], id(floor_times): []}
        for _ in range(runs):  # interleaved, so load on the machine hits all three alike
            for argv, out in ((cmd, hook_times), (base, base_times), (floor, floor_times)):
                c0 = _children_cpu()
                t0 = time.perf_counter()
                proc = subprocess.run(argv, input=sample, env=env, capture_output=True)
                out.append(time.perf_counter() - t0)
                cpu[id(out)].append(_children_cpu() - c0)
                assert proc.returncode == 0, proc.stderr
    h, b = statistics.median(hook_times), statistics.median(base_times)
    f = statistics.median(floor_times)
    print(f"hook: {SYSTEM_PYTHON}, median (min) of {runs} runs, one {len(sample)}-byte DSN "
          "per process")
    print(f"  python3 -S hook.py               {h * 1000:7.1f} ms ({min(hook_times) * 1000:.1f})")
    print(f"  python3 -S -c pass               {b * 1000:7.1f} ms ({min(base_times) * 1000:.1f})")
    print(f"  python3 -S -c 'import re, sqlite3' {f * 1000:5.1f} ms "
          f"({min(floor_times) * 1000:.1f})")
    print(f"  ratio hook/interpreter start: {h / b:.2f}x median, "
          f"{min(hook_times) / min(base_times):.2f}x min (extra {1000 * (h - b):.1f} ms/message)")
    print(f"  ratio stdlib floor (re, sqlite3)/interpreter start: {f / b:.2f}x")
    # On a shared machine wall time includes waiting for a CPU; CPU time does not.
    hc, bc = statistics.median(cpu[id(hook_times)]), statistics.median(cpu[id(base_times)])
    print(f"  ratio hook/interpreter start in CPU time: {hc / bc:.2f}x "
          f"({hc * 1000:.1f} vs {bc * 1000:.1f} ms)")


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench_accuracy():
    from mailops.bounce import score
    from mailops.bounce.parse import parse_bytes

    base = score.corpora_dir()
    for name in ("flufl-bounce", "sisimai-dev"):
        if base and (base / name / "expected.json").is_file():
            print(score.summary(name, score.score(score.load(base / name), parse_bytes)))


def main():
    from mailops.bounce import score

    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--hook-runs", type=int, default=40)
    args = ap.parse_args()
    base = score.corpora_dir()
    messages = [p.read_bytes() for name in ("flufl-bounce", "sisimai-dev") if base
                for p in sorted((base / name / "messages").glob("*")) if p.is_file()]
    if not messages:
        sys.exit("no corpora: put the shared folder beside the clone or set MAILOPS_CORPORA")
    bench_parse(messages, args.rounds)
    sample = (ROOT / "tests" / "fixtures" / "bounces" / "postfix_user_unknown.eml").read_bytes()
    bench_hook(sample, args.hook_runs)
    bench_hook_on_lab(sample, args.hook_runs)
    bench_accuracy()


# Runs on the lab host as the hook's user (`runuser -u mailops-bounce -- python3 -S -`);
# RUNS and SAMPLE (base64) are prepended. A scratch database: the host's real one is left alone.
_LAB_TIMER = r'''
import base64, json, resource, statistics, subprocess, tempfile, time
lib = "/usr/local/lib/mailops/bounce"
def cpu():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime
sample = base64.b64decode(SAMPLE)
with tempfile.TemporaryDirectory() as tmp:
    hook = ["/usr/bin/python3", "-S", lib + "/hook.py", "--db", tmp + "/b.sqlite3",
            "--quarantine", tmp + "/q", "--secret-file", "/etc/mailops/bounce-secret",
            "MAILER-DAEMON", "bounces@example.test"]
    base = ["/usr/bin/python3", "-S", "-c", "pass"]
    subprocess.run(hook, input=sample, check=True, capture_output=True)
    times = {"hook": [], "base": [], "hook_cpu": [], "base_cpu": []}
    for _ in range(RUNS):
        for name, argv in (("hook", hook), ("base", base)):
            c0 = cpu()
            t0 = time.perf_counter()
            p = subprocess.run(argv, input=sample, capture_output=True)
            times[name].append(time.perf_counter() - t0)
            times[name + "_cpu"].append(cpu() - c0)
            if p.returncode != 0:
                raise SystemExit(name + " exited " + str(p.returncode))
out = {k: statistics.median(v) for k, v in times.items()}
out.update({k + "_min": min(v) for k, v in times.items()})
print(json.dumps(out))
'''


def bench_hook_on_lab(sample: bytes, runs: int):
    """The installed hook on the lab's mx1 against the interpreter start there."""
    import json

    try:
        from mailops.lab.config import LabNotUp, LabState
        from mailops.lab.world import ssh_command
        lab = LabState.load()
    except (ImportError, LabNotUp) as e:
        print(f"hook on the lab host: skipped ({e})")
        return
    argv = [*ssh_command(lab, "mx1"),
            "test -f /usr/local/lib/mailops/bounce/hook.py && "
            "runuser -u mailops-bounce -- /usr/bin/python3 -S -"]
    import base64

    # `python3 -` reads its program from stdin, so the DSN travels inside it.
    program = (f"RUNS = {int(runs)}\nSAMPLE = {base64.b64encode(sample).decode()!r}\n"
               + _LAB_TIMER)
    proc = subprocess.run(argv, input=program.encode(), capture_output=True, timeout=600)
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip() or "hook not installed"
        print(f"hook on the lab host: skipped (lab up but not usable: {why[-200:]}; "
              "deploy it: pyinfra -y inventories/lab.py deploy.py)")
        return
    t = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    h, b = t["hook"], t["base"]
    print(f"hook on the lab host (mx1, installed, byte-compiled, as mailops-bounce): "
          f"median of {runs} runs")
    print(f"  python3 -S hook.py    {h * 1000:7.1f} ms")
    print(f"  python3 -S -c pass    {b * 1000:7.1f} ms")
    print(f"  ratio hook/interpreter start: {h / b:.2f}x median, "
          f"{t['hook_min'] / t['base_min']:.2f}x min, {t['hook_cpu'] / t['base_cpu']:.2f}x CPU "
          f"time (extra {1000 * (h - b):.1f} ms/message)")


if __name__ == "__main__":
    main()
