"""Running and finding the lab's daemons without a service manager on this machine.

This machine has no systemd of its own, so the lab starts its daemons (nspawn,
named, apt-cacher-ng) as plain background processes, remembers their pids,
and — for runs that were interrupted and lost their pid files — finds them by
the lab paths in their command lines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


class LabError(RuntimeError):
    """A lab step failed; the message says which and what to look at."""


def run(cmd: list[str], *, check: bool = True, quiet: bool = True,
        **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=quiet, text=True, **kw)
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-2000:] if quiet else ""
        raise LabError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}\n{detail}")
    return result


def start_daemon(cmd: list[str], pidfile: Path, logfile: Path,
                 env: dict[str, str] | None = None) -> int:
    """Start `cmd` in its own session, detached from our stdin, logging to `logfile`."""
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            env=env,
        )
    pidfile.write_text(str(proc.pid))
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie we spawned ourselves still answers kill(0); treat it as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def stop(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM (nspawn turns it into a clean container shutdown), then SIGKILL."""
    if not alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            _reap(pid)
            return
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (Linux /proc/<pid>/task/*/children)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def stop_container(pid: int, timeout: float = 30.0) -> None:
    """Stop a systemd-nspawn process and, whatever happens, the container it started.

    nspawn turns SIGTERM into a clean shutdown of the container's systemd; if that
    takes longer than `timeout`, nspawn is killed — and a killed nspawn leaves its
    container's init (and with it a veth on the lab bridge) running as an orphan.
    """
    inits = children(pid)
    stop(pid, timeout)
    for child in inits:
        if alive(child):
            try:
                os.kill(child, signal.SIGKILL)  # init of a PID namespace: ends all in it
            except ProcessLookupError:
                pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def pids_mentioning(needle: str) -> list[int]:
    """Processes whose command line mentions `needle` (a lab path): our leftovers."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def wait_until(check, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as e:  # noqa: BLE001 - reported below if it never succeeds
            last_error = e
        time.sleep(interval)
    raise LabError(f"timed out after {timeout:.0f}s waiting for {what}"
                   + (f" (last error: {last_error})" if last_error else ""))
