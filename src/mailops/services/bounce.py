"""The bounce pipeline's on-host layout and the Postfix tables that route bounces to it.

Mail to ``bounces[+<token>]@<domain>`` of every hosted domain goes through
transport_maps to a pipe(8) service that runs the hook (tasks/bounce.py installs it);
the suppression list is a sqlite_table(5) Postfix asks on submission. Used by
tasks/bounce.py, tasks/postfix.py, the templates and `mailops bounces|suppression`.
The inventory keeps the local part ``bounces`` free in every domain
(mailops.inventory.rules.bounces_is_reserved).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..inventory import MailSettings
from ..inventory.rules import BOUNCE_LOCAL
from .paths import POSTFIX_MAPS_DIR

BOUNCE_USER = "mailops-bounce"  # runs the hook (pipe(8) user=); owns the database
BOUNCE_SERVICE = "mailops-bounce"  # the master.cf pipe service transport_maps names
BOUNCE_STATE_DIR = "/var/lib/mailops"
BOUNCE_DB = f"{BOUNCE_STATE_DIR}/bounces.sqlite3"  # = bounce.config.DEFAULT_DB_PATH
BOUNCE_QUARANTINE = f"{BOUNCE_STATE_DIR}/quarantine"
BOUNCE_SECRET = "/etc/mailops/bounce-secret"  # made on the host, never leaves it
SUPPRESSION_MAP = f"{POSTFIX_MAPS_DIR}/suppression.cf"  # sqlite_table(5), via proxymap
# The modules of mailops.bounce the hook imports (directly or through parse/store), part
# of the host package (mailops.services.onhost) as its subpackage ``bounce``;
# tests/unit/test_bounce_wiring.py checks this list against the real imports.
BOUNCE_HOOK_MODULES = ("hookmain", "config", "parse", "report", "message", "mime",
                       "dsn", "legacy", "arf", "notice", "autoreply", "classify", "rules",
                       "phrases", "lazyre", "store", "verp")


def bounce_addresses(settings: MailSettings) -> list[str]:
    """``bounces@<domain>`` for every hosted domain (the return path without token)."""
    return sorted(f"{BOUNCE_LOCAL}@{d.name.lower()}" for d in settings.domains)


def bounce_transport_map(settings: MailSettings) -> list[tuple[str, str]]:
    """transport_maps: ``bounces@<domain>`` -> ``mailops-bounce:`` (the pipe service).

    transport(5) looks up ``bounces+<token>@domain`` and then ``bounces@domain``
    (recipient_delimiter = +), so one line per domain covers every token.
    """
    return [(a, f"{BOUNCE_SERVICE}:") for a in bounce_addresses(settings)]


def bounce_sender_map(settings: MailSettings, logins: Sequence[str]
                      ) -> list[tuple[str, list[str]]]:
    """smtpd_sender_login_maps: every mailbox of a domain may use its return path.

    An application authenticated as any mailbox of example.com may send with
    ``MAIL FROM:<bounces+<token>@example.com>``; the bounces come back to the hook,
    never to a person, so this lends no one else's identity. ``logins``: every
    mailbox address, lower-cased.
    """
    out = []
    for address in bounce_addresses(settings):
        domain = address.rpartition("@")[2]
        owners = [m for m in logins if m.rpartition("@")[2] == domain]
        if owners:
            out.append((address, owners))
    return out


def bounce_pipe_argv() -> list[str]:
    """The master.cf argv= of the pipe service (pipe(8) expands ${sender} ${recipient};
    a null sender arrives as MAILER-DAEMON)."""
    from .onhost import HOOK_SCRIPT

    return ["/usr/bin/python3", "-S", HOOK_SCRIPT, "--db", BOUNCE_DB,
            "--quarantine", BOUNCE_QUARANTINE, "--secret-file", BOUNCE_SECRET,
            "${sender}", "${recipient}"]


def bounce_context(settings: MailSettings, logins: Sequence[str]) -> dict[str, Any]:
    """Template variables for the bounce parts of templates/postfix/*.j2."""
    from ..bounce.store import postfix_map_cf

    return {
        "bounce_addresses": bounce_addresses(settings),
        "bounce_transport_map": bounce_transport_map(settings),
        "bounce_sender_map": bounce_sender_map(settings, logins),
        "bounce_service": BOUNCE_SERVICE,
        "bounce_user": BOUNCE_USER,
        "bounce_pipe_argv": " ".join(bounce_pipe_argv()),
        "bounce_db": BOUNCE_DB,
        # The whole sqlite_table(5) file, built once by the store that owns its schema.
        "suppression_cf": postfix_map_cf(BOUNCE_DB),
    }
