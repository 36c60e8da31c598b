"""The status report as a plain-text mail, and the record of the last one sent."""

from __future__ import annotations

import email.utils
import json
import os
import subprocess
import time
from email.message import EmailMessage

from .findings import ERROR, OK, WARNING, Change, Finding

SENDMAIL = "/usr/sbin/sendmail"
MARK = {OK: "ok     ", WARNING: "WARNING", ERROR: "ERROR  "}


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def subject(hostname: str, findings: list[Finding], changes: list[Change]) -> str:
    errors = sum(f.level == ERROR for f in findings)
    warnings = sum(f.level == WARNING for f in findings)
    if not errors and not warnings:
        summary = "all checks ok"
    else:
        summary = ", ".join(p for p in (f"{errors} error{'s' * (errors != 1)}" if errors
                                        else "", f"{warnings} warning{'s' * (warnings != 1)}"
                                        if warnings else "") if p)
    first = next((c.check for c in changes), "")
    return f"{hostname} status: {summary}" + (f" (changed: {first})" if first else "")


def render(config: dict, findings: list[Finding], changes: list[Change],
           last_sent: float | None, now: float) -> str:
    lines = [f"Status of the mail host {config['hostname']} at {_when(now)}.", ""]
    if last_sent is None:
        lines += ["This is the first status report of this host.", ""]
    elif changes:
        lines += [f"Changed since the last report ({_when(last_sent)}):"]
        lines += [f"  {MARK[c.after.level if c.after else OK]}  {c.line()}" for c in changes]
        lines.append("")
    for level, title in ((ERROR, "Errors"), (WARNING, "Warnings"), (OK, "All right")):
        group = [f for f in findings if f.level == level]
        if group:
            lines.append(f"{title}:")
            lines += [f"  {MARK[level]}  {f.check}: {f.text}" for f in group]
            lines.append("")
    lines += [
        "-- ",
        "mailops status mail. The host checks itself daily (mailops-status-mail.timer)",
        "and mails the report when a finding appears, changes or goes away; an",
        "unchanged host sends none.",
        f"Run it by hand: {config.get('command', 'python3 -S -m mailops_host status-mail')}"
        " --dry-run",
        "Turn it off: status_mail: {enabled: false} in the inventory, then deploy.",
    ]
    return "\n".join(lines) + "\n"


def message(config: dict, subject_line: str, body: str, worst_level: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = email.utils.formataddr((f"mailops on {config['hostname']}", config["from"]))
    msg["To"] = config["to"]
    msg["Subject"] = subject_line
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid("status", domain=config["hostname"])
    # RFC 3834 §5: machine-generated; autoresponders and vacation scripts stay silent.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailops-Status"] = f"{config['hostname']} {worst_level}"
    msg.set_content(body)
    return msg


def send(config: dict, msg: EmailMessage) -> None:
    """Hand the message to Postfix's sendmail(1): -i (a lone dot is text), -f the envelope
    sender, the recipient after --. Postfix signs, queues and retries it like any mail."""
    proc = subprocess.run([SENDMAIL, "-i", "-f", config["from"], "--", config["to"]],
                          input=msg.as_bytes(), capture_output=True, timeout=120,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{SENDMAIL} exited {proc.returncode}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")


def load_state(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
        return state if isinstance(state, dict) else {}
    except (OSError, ValueError):
        return {}


def save_state(path: str, digest: str, findings: list[Finding], now: float) -> None:
    """Written only after sendmail took the report; replaced in one rename(2)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.new"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"digest": digest, "sent_at": now,
                   "findings": {x.check: x.as_dict() for x in findings}}, f, indent=1)
    os.replace(tmp, path)
