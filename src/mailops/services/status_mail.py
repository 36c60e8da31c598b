"""The daily status mail: what the host checks, where its files sit, how it is run.

The host side is the host package's ``status`` (``python3 -S -m mailops_host
status-mail``); it reads everything it checks from CONFIG, which tasks/status_mail.py
renders from :func:`status_config` — the units the deploy itself manages, the
certificates it installs (mailops.services.tls), the mail store, the inventory's
blocklists, public addresses and postmaster address — so the report never guesses.
"""

from __future__ import annotations

import shlex

from ..inventory import MailSettings
from ..onhost.status import CONFIG
from .bounce import BOUNCE_DB, BOUNCE_STATE_DIR
from .dovecot import VMAIL_HOME
from .onhost import module_argv
from .tls import certificates

STATE_DIR = f"{BOUNCE_STATE_DIR}/status-mail"  # last-report.json: root only
UNIT_DIR = "/etc/systemd/system"
SERVICE = "mailops-status-mail.service"
TIMER = "mailops-status-mail.timer"
# systemd.timer(5): once a day; Persistent catches up a run missed while the host was
# off; the random delay spreads many hosts' checks (and DNSBL queries) over an hour.
ON_CALENDAR = "daily"
RANDOMIZED_DELAY = "1h"


def status_config(settings: MailSettings, units: list[str]) -> dict:
    """The JSON the host's status mail reads (``units``: what the deploy keeps running)."""
    first = settings.domains[0].name if settings.domains else settings.hostname
    return {
        "_about": "what the daily status mail checks; rendered by mailops, do not edit",
        "hostname": settings.hostname.lower(),
        "to": settings.status_mail.to,
        # Sent as the first domain's postmaster: OpenDKIM signs it for that domain, so a
        # postmaster address elsewhere receives it aligned (DMARC, RFC 7489 §3.1).
        "from": f"postmaster@{first}",
        "units": sorted(dict.fromkeys(units)),
        "certificates": [{"name": c.names[0] + (f" (+{len(c.names) - 1} names)"
                                                if len(c.names) > 1 else ""), "path": c.cert}
                         for c in certificates(settings)],
        "disks": [VMAIL_HOME, "/var", "/"],
        "dnsbl": list(settings.status_mail.dnsbl or ()),
        "addresses": [*settings.ipv4, *settings.ipv6],
        "bounce_db": BOUNCE_DB,
        "state": f"{STATE_DIR}/last-report.json",
        "command": shlex.join(module_argv("status-mail")),
    }


def unit_context(settings: MailSettings) -> dict:
    return {"command": shlex.join(module_argv("status-mail")), "config": CONFIG,
            "on_calendar": ON_CALENDAR, "randomized_delay": RANDOMIZED_DELAY,
            "service": SERVICE, "hostname": settings.hostname.lower()}
