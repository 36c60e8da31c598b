"""Host checks: the services the deploy manages, the mail queue, disk space, certificates."""

from __future__ import annotations

import calendar
import json
import os
import subprocess
import time

from .findings import ERROR, OK, WARNING, Finding

# Disk: warn under 30 % free, alarm under 15 %: a mail store fills in bursts (one
# mailing list, one backup), and Postfix refuses mail once the queue's file system
# is short of space (postconf(5) queue_minfree), so the warning must come early.
DISK_WARN_FREE, DISK_ERROR_FREE = 0.30, 0.15
# Certificates: certbot renews 30 days before expiry (certbot's default
# renew_before_expiry); under 14 days left, renewal has failed for two weeks.
CERT_WARN_DAYS, CERT_ERROR_DAYS = 14, 3
# Queue: a message deferred for a day is a delivery problem, not a slow receiver
# (Postfix retries for maximal_queue_lifetime, 5 days by default).
DEFERRED_ERROR_AGE = 86400


def _run(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def services(units: list[str]) -> list[Finding]:
    """``systemctl show`` of every managed unit: anything but active is an error."""
    if not units:
        return []
    out = _run(["systemctl", "show", "--property=Id,ActiveState,SubState,LoadState", "--",
                *units]).stdout
    shown: dict[str, dict[str, str]] = {}
    # One block per unit, in the order asked, separated by an empty line.
    for unit, block in zip(units, out.split("\n\n"), strict=False):
        shown[unit] = dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)
    found = []
    for unit in units:
        props = shown.get(unit, {})
        active, sub = props.get("ActiveState", "unknown"), props.get("SubState", "")
        if props.get("LoadState") == "not-found":
            active, sub = "not installed", ""
        state = f"{active} ({sub})" if sub else active
        if active == "active":
            found.append(Finding(f"service {unit}", OK, "active", f"{unit} is {state}"))
        else:
            found.append(Finding(f"service {unit}", ERROR, state,
                                 f"{unit} is {state}: `systemctl status {unit}` and "
                                 f"`journalctl -u {unit}` say why"))
    return found


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def queue(now: float | None = None) -> list[Finding]:
    """``postqueue -j`` (postqueue(1), Postfix ≥ 3.1): one JSON object per message."""
    proc = _run(["postqueue", "-j"])
    if proc.returncode != 0:
        return [Finding("mail queue", ERROR, "unreadable",
                        f"postqueue -j failed: {proc.stderr.strip() or proc.returncode}")]
    messages = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    now = time.time() if now is None else now
    return [queue_finding(messages, now)]


def queue_finding(messages: list[dict], now: float) -> Finding:
    deferred = [m for m in messages if m.get("queue_name") == "deferred"]
    held = [m for m in messages if m.get("queue_name") == "hold"]
    total = f"{len(messages)} message{'s' * (len(messages) != 1)} in the queue"
    if not deferred and not held:
        return Finding("mail queue", OK, "no deferred mail", total)
    parts, level, state = [total], WARNING, []
    if deferred:
        oldest = min(deferred, key=lambda m: m.get("arrival_time", now))
        age = now - oldest.get("arrival_time", now)
        reasons = [r.get("delay_reason", "") for r in oldest.get("recipients", [])]
        to = ", ".join(r.get("address", "?") for r in oldest.get("recipients", []))
        parts.append(f"{len(deferred)} deferred; the oldest ({oldest.get('queue_id')}, to "
                     f"{to}) waits for {_age(age)}: {next((r for r in reasons if r), '?')}")
        state.append("deferred mail waiting")
        if age >= DEFERRED_ERROR_AGE:
            level = ERROR
            state.append("deferred for over a day")
    if held:
        parts.append(f"{len(held)} on hold (`postqueue -p`, release with `postsuper -H`)")
        state.append("mail on hold")
    return Finding("mail queue", level, ", ".join(state), "; ".join(parts))


def disks(paths: list[str]) -> list[Finding]:
    """Free space of each path's file system, each file system once (statvfs(3))."""
    found, seen = [], set()
    for path in paths:
        try:
            st = os.statvfs(path)
            dev = os.stat(path).st_dev
        except OSError as exc:
            found.append(Finding(f"disk {path}", ERROR, "unreadable", f"{path}: {exc}"))
            continue
        if dev in seen:
            continue
        seen.add(dev)
        free = st.f_bavail / st.f_blocks if st.f_blocks else 1.0
        text = (f"{path}: {free:.0%} free ({st.f_bavail * st.f_frsize / 1024**3:.1f} GiB of "
                f"{st.f_blocks * st.f_frsize / 1024**3:.1f} GiB)")
        if free < DISK_ERROR_FREE:
            found.append(Finding(f"disk {path}", ERROR, f"under {DISK_ERROR_FREE:.0%} free",
                                 text))
        elif free < DISK_WARN_FREE:
            found.append(Finding(f"disk {path}", WARNING, f"under {DISK_WARN_FREE:.0%} free",
                                 text))
        else:
            found.append(Finding(f"disk {path}", OK, "enough free space", text))
    return found


def not_after(path: str) -> float:
    """The certificate's notAfter (the first certificate in a PEM chain), as epoch."""
    proc = _run(["openssl", "x509", "-noout", "-enddate", "-in", path])
    if proc.returncode != 0:
        raise ValueError(proc.stderr.strip() or f"openssl exited {proc.returncode}")
    value = proc.stdout.strip().partition("=")[2]  # notAfter=Mar  1 12:00:00 2027 GMT
    return calendar.timegm(time.strptime(value, "%b %d %H:%M:%S %Y %Z"))


def certificates(certs: list[dict], now: float | None = None) -> list[Finding]:
    now = time.time() if now is None else now
    found = []
    for cert in certs:
        name, path = f"certificate {cert['name']}", cert["path"]
        try:
            expires = not_after(path)
        except (OSError, ValueError) as exc:
            found.append(Finding(name, ERROR, "unreadable", f"{path}: {exc}"))
            continue
        days = (expires - now) / 86400
        when = time.strftime("%Y-%m-%d", time.gmtime(expires))
        if days < 0:
            found.append(Finding(name, ERROR, "expired", f"{path} expired on {when}"))
        elif days < CERT_ERROR_DAYS:
            found.append(Finding(name, ERROR, f"expires within {CERT_ERROR_DAYS} days",
                                 f"{path} expires on {when} ({days:.0f} days left)"))
        elif days < CERT_WARN_DAYS:
            found.append(Finding(name, WARNING, f"expires within {CERT_WARN_DAYS} days",
                                 f"{path} expires on {when} ({days:.0f} days left): renewal "
                                 "is overdue (`certbot renew --dry-run` shows why)"))
        else:
            found.append(Finding(name, OK, "valid", f"{path} valid until {when} "
                                                    f"({days:.0f} days)"))
    return found
