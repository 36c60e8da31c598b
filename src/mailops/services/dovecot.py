"""Dovecot: the passwd-file of mailboxes (hashes only, quotas) and dovecot.conf values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..inventory import MailSettings
from . import tls
from .paths import (
    AUTH_SOCKET,
    LMTP_SOCKET,
    POSTFIX_SPOOL,
    QUOTA_EOD_LISTENER,
    QUOTA_EOD_USER,
    QUOTA_STATUS_SOCKET,
    MailhostError,
)
from .release import Release
from .sieve import sieve_context

VMAIL_USER = "vmail"
VMAIL_GROUP = "vmail"
# Fixed ids so a restored /var/vmail keeps its owner on a rebuilt host.
VMAIL_UID = 5000
VMAIL_GID = 5000
VMAIL_HOME = "/var/vmail"  # Maildir of user@domain: /var/vmail/<domain>/<user>/Maildir

DOVECOT_CONF = "/etc/dovecot/dovecot.conf"
DOVECOT_USERS = "/etc/dovecot/users"
# The check a staged dovecot.conf must pass before it goes live ({stage}: the staging
# root that mirrors /): doveconf(1) -c parses the whole file and exits non-zero on an
# error; -n prints only non-defaults (discarded).
CHECK = f"doveconf -c {{stage}}{DOVECOT_CONF} -n >/dev/null"

# One whole template pair per Dovecot configuration syntax: 2.4 (Debian 13) loads
# neither 2.3's dovecot.conf nor its userdb quota field ("Upgrading Dovecot CE from
# 2.3 to 2.4", doc.dovecot.org). Keyed by Release.dovecot.
TEMPLATES = {
    "2.3": ("dovecot/dovecot.conf.j2", "dovecot/users.j2"),
    "2.4": ("dovecot/dovecot-2.4.conf.j2", "dovecot/users-2.4.j2"),
}


def templates(release: Release) -> tuple[str, str]:
    """(dovecot.conf template, passwd-file template) for the host's release."""
    return TEMPLATES[release.dovecot]

_CRYPT_PREFIXES = (
    ("$argon2id$", "{ARGON2ID}"),
    ("$argon2i$", "{ARGON2I}"),
    ("$2a$", "{BLF-CRYPT}"),
    ("$2b$", "{BLF-CRYPT}"),
    ("$2x$", "{BLF-CRYPT}"),
    ("$2y$", "{BLF-CRYPT}"),
    ("$6$", "{SHA512-CRYPT}"),
    ("$5$", "{SHA256-CRYPT}"),
)


def dovecot_password(password_hash: str, address: str = "mailbox") -> str:
    """A hash with an explicit Dovecot scheme prefix.

    Bare crypt(3)/PHC strings are accepted by the inventory; passwd-file's default
    scheme is CRYPT, which hands them to libc crypt(3) — that knows $6$ but not
    $argon2id$. An explicit {SCHEME} makes Dovecot verify every form itself.
    """
    h = password_hash.strip()
    if any(c in h for c in ":\n\r\t ") or not h:
        raise MailhostError(
            f"{address}: found a password hash containing ':' or whitespace (not shown); "
            "expected a single-line hash — ':' separates passwd-file fields. Make a new one "
            "with `mailops hash-password`."
        )
    if h.startswith("{"):
        return h
    for prefix, scheme in _CRYPT_PREFIXES:
        if h.startswith(prefix):
            return scheme + h
    return "{CRYPT}" + h


@dataclass(frozen=True)
class DovecotUser:
    address: str
    password: str  # with {SCHEME} prefix
    quota: int | None  # bytes; None = unlimited

    def __repr__(self) -> str:  # never print the hash
        return f"DovecotUser({self.address!r}, quota={self.quota!r})"

    @property
    def line(self) -> str:
        """passwd-file(5) line: user:password:uid:gid:gecos:home:shell:extra_fields.

        uid/gid/home come from the userdb's default_fields; the only extra field is the
        per-user quota rule (Dovecot quota plugin, "userdb_quota_rule").
        """
        extra = f"userdb_quota_rule=*:storage={self.quota}B" if self.quota else ""
        return f"{self.address}:{self.password}::::::{extra}"


def dovecot_users(settings: MailSettings) -> list[DovecotUser]:
    """One passwd-file entry per mailbox; the login is the lower-cased address."""
    users = []
    for m in sorted(settings.mailboxes, key=lambda m: m.address.lower()):
        quota = m.quota if m.quota is not None else settings.default_quota
        users.append(DovecotUser(m.address.lower(),
                                 dovecot_password(m.password_hash, m.address), quota))
    return users


def dovecot_context(settings: MailSettings, *, tls_cert: str = tls.TLS_CERT,
                    tls_key: str = tls.TLS_KEY, users_file: str = DOVECOT_USERS,
                    spool: str = POSTFIX_SPOOL) -> dict[str, Any]:
    """Template variables for templates/dovecot/*.j2 (paths overridable for tests)."""
    return {
        "hostname": settings.hostname.lower(),
        "users": dovecot_users(settings),
        "users_file": users_file,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
        "vmail_user": VMAIL_USER,
        "vmail_group": VMAIL_GROUP,
        "vmail_uid": VMAIL_UID,
        "vmail_gid": VMAIL_GID,
        "vmail_home": VMAIL_HOME,
        "lmtp_socket": f"{spool}/{LMTP_SOCKET}",
        "auth_socket": f"{spool}/{AUTH_SOCKET}",
        "quota_status_socket": f"{spool}/{QUOTA_STATUS_SOCKET}",
        "message_size_limit": settings.message_size_limit,
        # the listener the END-OF-MESSAGE quota policy asks
        "quota_eod_listener": QUOTA_EOD_LISTENER, "quota_eod_user": QUOTA_EOD_USER,
        **sieve_context(),  # MAILOPS-SIEVE: spam into Junk, learning (services/sieve.py)
    }
