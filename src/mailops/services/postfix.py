"""Postfix: who may receive and send what, as lookup tables, and main.cf/master.cf values.

Everything that decides *who may receive or send what* lives here, where it is
unit-tested without a host (tasks/postfix.py renders it):

- which domains are hosted, which addresses are mailboxes (recipient validation at
  RCPT time: no backscatter), which are aliases and where they go, catch-alls;
- which SASL login may use which envelope sender (``smtpd_sender_login_maps``): a
  mailbox owns its own address and every alias that reaches it through explicit
  alias targets — never another tenant's address unless that tenant's alias points
  at it.

All addresses are lower-cased: Postfix folds table keys to lower case, Dovecot's
``auth_username_format = %Lu`` lower-cases logins, and passwd-file lookups are exact.
The inventory refuses addresses that would collide once lower-cased, and local parts
that cannot be a Maildir name (mailops.inventory.rules).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..inventory import MailSettings
from . import bounce, delivery_log, mta_sts, relay, tls
from .paths import (
    AUTH_SOCKET,
    LMTP_SOCKET,
    OPENDKIM_SOCKET,
    POSTFIX_DIR,
    POSTFIX_MAPS_DIR,
    QUOTA_EOD_POLICY,
    QUOTA_EOD_SERVICE,
    QUOTA_EOD_SOCKET,
    QUOTA_EOD_USER,
    QUOTA_STATUS_SOCKET,
)
from .rspamd import RSPAMD_MILTER, postscreen_context

# The lookup tables under /etc/postfix/maps, each rendered whole from
# templates/postfix/<name>.j2 as a texthash: (or sqlite:) table.
MAPS = ("virtual_mailbox_domains", "virtual_mailbox_maps", "virtual_alias_maps",
        "sender_login_maps", "local_aliases",
        # the bounce pipeline (services/bounce.py):
        "transport", "bounce_recipients", "bounce_senders", "suppression.cf",
        # who may be written to at the host name; the null sender on submission
        "local_recipients", "submission_sender_access",
        # header_checks that log subjects for the delivery log (services/delivery_log.py)
        "subject_logging",
        # postscreen's allowlist (services/rspamd.py: postscreen_context):
        "postscreen_access.cidr")

# The check a staged configuration must pass before it goes live ({stage}: the staging
# root that mirrors /). postfix(1) -c reads main.cf and master.cf from that directory;
# `postfix check` exits non-zero on fatal errors such as a bad numerical value. It
# writes its messages to stderr only when that is a terminal (else to syslog only):
# script(1) gives it one, so the deploy shows Postfix's own words; -e keeps its status.
CHECK = f"script -qefc 'postfix -c {{stage}}{POSTFIX_DIR} check' /dev/null"

# RFC 5321 §4.5.3.1.8: a server MUST accept at least 100 recipients per transaction;
# clients handle "452 too many recipients" by sending the rest in a new transaction
# (§4.5.3.1.10). 200 leaves headroom for people and caps what a stolen login can do.
SMTPD_RECIPIENT_LIMIT = 200


def lower(address: str) -> str:
    return address.strip().lower()


def split(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def hosted_domains(settings: MailSettings) -> list[str]:
    """virtual_mailbox_domains: every domain this host receives and stores mail for."""
    return sorted({d.name.lower() for d in settings.domains})


def mailboxes(settings: MailSettings) -> list[str]:
    """Every mailbox address (= its IMAP/SMTP login), lower-cased and sorted."""
    return sorted(lower(m.address) for m in settings.mailboxes)


def mailbox_map(settings: MailSettings) -> list[tuple[str, str]]:
    """virtual_mailbox_maps: address -> Maildir path relative to /var/vmail.

    With ``virtual_transport = lmtp:`` Postfix uses this table only to know which
    recipients exist (reject_unlisted_recipient); Dovecot decides the real path from
    its userdb. The value documents where the mail lands.
    """
    out = []
    for address in mailboxes(settings):
        local, domain = split(address)
        out.append((address, f"{domain}/{local}/"))
    return out


def alias_map(settings: MailSettings) -> list[tuple[str, list[str]]]:
    """virtual_alias_maps entries, in file order.

    - every alias -> its targets (in the inventory's order, duplicates removed);
    - in a domain with a catch-all: every mailbox -> itself, then ``@domain`` -> the
      catch-all target. virtual(5) looks up ``user@domain`` before ``@domain``, so
      without the self-mappings the catch-all would swallow mail for real mailboxes
      too (Postfix VIRTUAL_README, "Mail forwarding domains" / catch-all caveat).
      With ``recipient_delimiter = +``, ``user+tag@domain`` is tried as
      ``user+tag@domain`` then ``user@domain`` before ``@domain``, so tagged mail to a
      mailbox still reaches it.
    """
    out: list[tuple[str, list[str]]] = []
    for d in sorted(settings.domains, key=lambda d: d.name):
        for address, targets in d.aliases:
            out.append((lower(address), unique(lower(t) for t in targets)))
        if d.catch_all:
            for m in sorted(lower(m.address) for m in d.mailboxes):
                out.append((m, [m]))
            out.append((f"@{d.name.lower()}", [lower(d.catch_all)]))
    return out


def _alias_targets(settings: MailSettings) -> dict[str, list[str]]:
    return {lower(a): [lower(t) for t in ts] for d in settings.domains for a, ts in d.aliases}


def alias_owners(settings: MailSettings, address: str) -> list[str]:
    """The mailbox logins an address reaches through explicit aliases (chains followed).

    Catch-alls are deliberately NOT followed: a catch-all says "deliver mail for unknown
    names to X", not "X may send as any name in the domain". Remote targets own nothing.
    """
    return _owners(address, set(mailboxes(settings)), _alias_targets(settings))


def _owners(address: str, boxes: set[str], aliases: dict[str, list[str]]) -> list[str]:
    found: set[str] = set()
    seen: set[str] = set()
    stack = [lower(address)]
    while stack:
        a = stack.pop()
        if a in seen:
            continue  # alias loops are Postfix's to report; we just must not spin
        seen.add(a)
        if a in boxes:
            found.add(a)
        elif a in aliases:
            stack.extend(aliases[a])
    return sorted(found)


def sender_login_map(settings: MailSettings) -> list[tuple[str, list[str]]]:
    """smtpd_sender_login_maps: envelope sender address -> the logins that may use it.

    A login (= mailbox address) may send as its own address and as every alias that
    delivers to it. Addresses that reach no hosted mailbox (pure forwards to remote
    addresses) get no entry, so nobody may send as them; with
    ``reject_sender_login_mismatch`` an authenticated client using an address that is
    not in this table at all (a remote domain, an unknown name) is refused too.
    """
    out = [(m, [m]) for m in mailboxes(settings)]
    # Read once for all aliases: per alias, this grew with the square of the domains.
    boxes, aliases = set(mailboxes(settings)), _alias_targets(settings)
    for d in sorted(settings.domains, key=lambda d: d.name):
        for address, _ in d.aliases:
            owners = _owners(address, boxes, aliases)
            if owners:
                out.append((lower(address), owners))
    return out


def addresses_of_login(settings: MailSettings) -> dict[str, list[str]]:
    """Inverse of :func:`sender_login_map`: login -> every address it may send as."""
    out: dict[str, list[str]] = {m: [] for m in mailboxes(settings)}
    for address, logins in sender_login_map(settings):
        for login in logins:
            out[login].append(address)
    return {k: sorted(v) for k, v in out.items()}


def mydestination(settings: MailSettings) -> list[str]:
    """Domains delivered by local(8) to system accounts (root, postmaster@host).

    Never a hosted (virtual) domain: Postfix refuses a domain listed in both
    mydestination and virtual_mailbox_domains (VIRTUAL_README, "Domain class").
    """
    if settings.hostname.lower() in hosted_domains(settings):
        return ["localhost"]
    return ["$myhostname", "localhost"]


def postfix_context(settings: MailSettings) -> dict[str, Any]:
    """Template variables for templates/postfix/*.j2."""
    return {
        "hostname": settings.hostname.lower(),
        "mydestination": mydestination(settings),
        "mynetworks": list(settings.mynetworks),
        "domains": hosted_domains(settings),
        "mailbox_map": mailbox_map(settings),
        "alias_map": alias_map(settings),
        "sender_login_map": sender_login_map(settings),
        "message_size_limit": settings.message_size_limit,
        "maximal_queue_lifetime": settings.maximal_queue_lifetime,
        "client_message_rate_limit": settings.client_message_rate_limit,
        "client_recipient_rate_limit": settings.client_recipient_rate_limit,
        "recipient_limit": SMTPD_RECIPIENT_LIMIT,
        "tls_cert": tls.TLS_CERT,
        "tls_key": tls.TLS_KEY,
        "maps_dir": POSTFIX_MAPS_DIR,
        "lmtp_socket": LMTP_SOCKET,
        "auth_socket": AUTH_SOCKET,
        "quota_status_socket": QUOTA_STATUS_SOCKET,
        # the END-OF-MESSAGE quota policy service (spawn(8))
        "quota_eod_service": QUOTA_EOD_SERVICE, "quota_eod_user": QUOTA_EOD_USER,
        "quota_eod_socket": QUOTA_EOD_SOCKET, "quota_eod_policy": QUOTA_EOD_POLICY,
        "opendkim_socket": OPENDKIM_SOCKET,
        "rspamd_milter": RSPAMD_MILTER,  # port 25 only (MAILOPS-INBOUND-FILTER)
        **postscreen_context(settings),  # MAILOPS-POSTSCREEN
        "mta_sts_resolver": mta_sts.MTA_STS_RESOLVER,  # outbound MTA-STS (RFC 8461 §5)
        **bounce.bounce_context(settings, mailboxes(settings)),
        **relay.relay_context(settings),  # outbound through relays (smarthosts)
        **delivery_log.postfix_context(settings),  # subjects logged, when kept
    }
