"""Settings -> the content of the mail host's configuration files (pure functions).

The pyinfra tasks (``tasks/postfix.py``, ``tasks/dovecot.py``, ``tasks/opendkim.py``,
``tasks/tls.py``) stay thin: they call the functions here to turn typed
:class:`~mailops.settings.MailSettings` into template variables, and hand those to
the Jinja2 templates under ``templates/<service>/``. Everything that decides *who may
receive or send what* lives here, where it is unit-tested without a host:

- which domains are hosted, which addresses are mailboxes (recipient validation at
  RCPT time: no backscatter), which are aliases and where they go, catch-alls;
- which SASL login may use which envelope sender (``smtpd_sender_login_maps``): a
  mailbox owns its own address and every alias that reaches it through explicit
  alias targets — never another tenant's address unless that tenant's alias points
  at it;
- the Dovecot passwd-file (hashes only, with per-mailbox quota rules);
- the OpenDKIM KeyTable / SigningTable / TrustedHosts entries.

All addresses are lower-cased: Postfix folds table keys to lower case, Dovecot's
``auth_username_format = %Lu`` lower-cases logins, and passwd-file lookups are exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import MailSettings

# --------------------------------------------------------------------------- host layout
# One place for every on-host path and id the tasks and templates share.

VMAIL_USER = "vmail"
VMAIL_GROUP = "vmail"
# Fixed ids so a restored /var/vmail keeps its owner on a rebuilt host.
VMAIL_UID = 5000
VMAIL_GID = 5000
VMAIL_HOME = "/var/vmail"  # Maildir of user@domain: /var/vmail/<domain>/<user>/Maildir

TLS_DIR = "/etc/mailops/tls"
TLS_CERT = f"{TLS_DIR}/fullchain.pem"
TLS_KEY = f"{TLS_DIR}/privkey.pem"

POSTFIX_DIR = "/etc/postfix"
POSTFIX_MAPS_DIR = "/etc/postfix/maps"
POSTFIX_SPOOL = "/var/spool/postfix"  # queue_directory; chrooted daemons see it as "/"
# Unix sockets inside the Postfix spool, named relative to it: Postfix daemons chdir to
# $queue_directory (and chroot there when master.cf says so), so a relative name works
# for chrooted and unchrooted daemons alike (postconf(5): "Pathname interpretation is
# relative to the Postfix queue directory").
LMTP_SOCKET = "private/dovecot-lmtp"
AUTH_SOCKET = "private/auth"
QUOTA_STATUS_SOCKET = "private/quota-status"
# MAILOPS-SECURITY: the END-OF-MESSAGE quota check (templates/postfix/quota-eod-policy.py,
# run by spawn(8) as QUOTA_EOD_USER) asks Dovecot's quota-status on this socket.
QUOTA_EOD_USER = "mailops-quota"
QUOTA_EOD_SERVICE = "mailops-quota-eod"
QUOTA_EOD_LISTENER = "quota-status-eod"  # relative to Dovecot's base_dir, /run/dovecot
QUOTA_EOD_SOCKET = f"/run/dovecot/{QUOTA_EOD_LISTENER}"
QUOTA_EOD_POLICY = "/usr/local/lib/mailops/quota-eod-policy.py"
# END MAILOPS-SECURITY
OPENDKIM_SOCKET_DIR = "opendkim"
OPENDKIM_SOCKET = f"{OPENDKIM_SOCKET_DIR}/opendkim.sock"

DOVECOT_CONF = "/etc/dovecot/dovecot.conf"
DOVECOT_USERS = "/etc/dovecot/users"

OPENDKIM_CONF = "/etc/opendkim.conf"  # the path Debian's opendkim.service reads
OPENDKIM_DIR = "/etc/opendkim"
OPENDKIM_KEYS_DIR = "/etc/opendkim/keys"
# MAILOPS-SECURITY: no longer written (opendkim.conf uses Nameservers); the deploy
# removes what earlier versions left there.
OPENDKIM_UNBOUND_CONF = "/etc/opendkim/unbound.conf"

# RFC 5321 §4.5.3.1.8: a server MUST accept at least 100 recipients per transaction;
# clients handle "452 too many recipients" by sending the rest in a new transaction
# (§4.5.3.1.10). 200 leaves headroom for people and caps what a stolen login can do.
SMTPD_RECIPIENT_LIMIT = 200

# Jinja2 options used by BOTH the deploy (files.template(jinja_env_kwargs=...)) and
# the tests (render()), so what is validated is byte-for-byte what is uploaded.
JINJA_ENV_KWARGS: dict[str, Any] = {"trim_blocks": True, "lstrip_blocks": True}

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO_ROOT / "templates"


class MailhostError(ValueError):
    """The settings are valid on their own but cannot be turned into a safe host config."""


# --------------------------------------------------------------------------- helpers


def _lower(address: str) -> str:
    return address.strip().lower()


def _split(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain


def _unique(items: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return list(seen)


def hosted_domains(settings: MailSettings) -> list[str]:
    """virtual_mailbox_domains: every domain this host receives and stores mail for."""
    return sorted({d.name.lower() for d in settings.domains})


def _check_unique(settings: MailSettings) -> None:
    """Two inventory entries that differ only in case would become one map key."""
    seen: dict[str, str] = {}
    problems = []
    for d in settings.domains:
        for address in [m.address for m in d.mailboxes] + [a for a, _ in d.aliases]:
            key = _lower(address)
            if key in seen:
                problems.append(f"{address!r} and {seen[key]!r}")
            seen.setdefault(key, address)
    if problems:
        raise MailhostError(
            "found addresses that differ only in upper/lower case: " + "; ".join(problems)
            + "; expected each address once — mail addresses are matched case-insensitively "
            "by Postfix and Dovecot, so these would collide. Remove one of each pair from the "
            "inventory."
        )


def mailboxes(settings: MailSettings) -> list[str]:
    """Every mailbox address (= its IMAP/SMTP login), lower-cased and sorted."""
    _check_unique(settings)
    out = []
    for m in settings.mailboxes:
        address = _lower(m.address)
        local, _ = _split(address)
        if "/" in local:
            # The local part becomes a directory name under /var/vmail/<domain>/.
            raise MailhostError(
                f"mailbox {m.address!r}: found '/' in the local part; expected none — it "
                "would become a path separator in /var/vmail/<domain>/<user>. Rename the "
                "mailbox (an alias with that name can still point to it)."
            )
        out.append(address)
    return sorted(out)


def mailbox_map(settings: MailSettings) -> list[tuple[str, str]]:
    """virtual_mailbox_maps: address -> Maildir path relative to /var/vmail.

    With ``virtual_transport = lmtp:`` Postfix uses this table only to know which
    recipients exist (reject_unlisted_recipient); Dovecot decides the real path from
    its userdb. The value documents where the mail lands.
    """
    out = []
    for address in mailboxes(settings):
        local, domain = _split(address)
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
    _check_unique(settings)
    out: list[tuple[str, list[str]]] = []
    for d in sorted(settings.domains, key=lambda d: d.name):
        for address, targets in d.aliases:
            out.append((_lower(address), _unique(_lower(t) for t in targets)))
        if d.catch_all:
            for m in sorted(_lower(m.address) for m in d.mailboxes):
                out.append((m, [m]))
            out.append((f"@{d.name.lower()}", [_lower(d.catch_all)]))
    return out


def _alias_targets(settings: MailSettings) -> dict[str, list[str]]:
    return {_lower(a): [_lower(t) for t in ts] for d in settings.domains for a, ts in d.aliases}


def alias_owners(settings: MailSettings, address: str) -> list[str]:
    """The mailbox logins an address reaches through explicit aliases (chains followed).

    Catch-alls are deliberately NOT followed: a catch-all says "deliver mail for unknown
    names to X", not "X may send as any name in the domain". Remote targets own nothing.
    """
    boxes = set(mailboxes(settings))
    aliases = _alias_targets(settings)
    found: set[str] = set()
    seen: set[str] = set()
    stack = [_lower(address)]
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
    for d in sorted(settings.domains, key=lambda d: d.name):
        for address, _ in d.aliases:
            owners = alias_owners(settings, address)
            if owners:
                out.append((_lower(address), owners))
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


# --------------------------------------------------------------------------- Dovecot

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

    Bare crypt(3)/PHC strings are accepted by the settings; passwd-file's default
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
    mailboxes(settings)  # the same checks as Postfix's maps (case collisions, '/')
    users = []
    for m in sorted(settings.mailboxes, key=lambda m: _lower(m.address)):
        quota = m.quota if m.quota is not None else settings.default_quota
        users.append(DovecotUser(_lower(m.address),
                                 dovecot_password(m.password_hash, m.address), quota))
    return users


# --------------------------------------------------------------------------- OpenDKIM


@dataclass(frozen=True)
class DkimKey:
    """One signing key as it will sit on the host (no key material here)."""

    domain: str
    selector: str
    keys_dir: str = OPENDKIM_KEYS_DIR

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def host_path(self) -> str:
        return f"{self.keys_dir}/{self.domain}/{self.selector}.private"


def dkim_keys(selectors: Mapping[str, str], keys_dir: str = OPENDKIM_KEYS_DIR) -> list[DkimKey]:
    """domain -> active selector, as DkimKey entries sorted by domain."""
    return [DkimKey(d.lower(), s, keys_dir) for d, s in sorted(selectors.items())]


def dkim_signature_algorithm(settings: MailSettings) -> str:
    """OpenDKIM's SignatureAlgorithm: one per instance (opendkim.conf(5)).

    OpenDKIM 2.11 signs every key with the one configured algorithm, so RSA and
    Ed25519 (RFC 8463) domains cannot be mixed on one host.
    """
    algorithms = {d.dkim_algorithm for d in settings.domains}
    ed = {a for a in algorithms if a == "ed25519"}
    if ed and ed != algorithms:
        mixed = ", ".join(f"{d.name}={d.dkim_algorithm}" for d in settings.domains)
        raise MailhostError(
            f"found DKIM algorithms {mixed}; expected all domains of one host to use RSA or "
            "all to use ed25519 — OpenDKIM 2.11 signs with one algorithm per instance. Set "
            "dkim.algorithm to the same family for every domain of this host (RSA is what "
            "every receiver verifies, RFC 8463 §4)."
        )
    return "ed25519-sha256" if ed else "rsa-sha256"


def trusted_hosts(settings: MailSettings) -> list[str]:
    """OpenDKIM InternalHosts/ExternalIgnoreList: clients whose mail is signed, not verified.

    The loopback (non-SMTP mail is presented to milters as coming from localhost
    127.0.0.1, Postfix MILTER_README) and $mynetworks, which Postfix already trusts to
    relay. Remote submission clients are signed because they authenticate (OpenDKIM
    treats {auth_type} and daemon_name=ORIGINATING as local), not by address.
    """
    out = ["127.0.0.1", "::1", "localhost", settings.hostname.lower()]
    for net in settings.mynetworks:
        out.append(net.replace("[", "").replace("]", ""))
    return _unique(out)


# --------------------------------------------------------------------------- contexts


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
        "tls_cert": TLS_CERT,
        "tls_key": TLS_KEY,
        "maps_dir": POSTFIX_MAPS_DIR,
        "lmtp_socket": LMTP_SOCKET,
        "auth_socket": AUTH_SOCKET,
        "quota_status_socket": QUOTA_STATUS_SOCKET,
        "opendkim_socket": OPENDKIM_SOCKET,
        # MAILOPS-SECURITY: END-OF-MESSAGE quota policy service (spawn(8))
        "quota_eod_service": QUOTA_EOD_SERVICE, "quota_eod_user": QUOTA_EOD_USER,
        "quota_eod_socket": QUOTA_EOD_SOCKET, "quota_eod_policy": QUOTA_EOD_POLICY,
        "mta_sts_resolver": MTA_STS_RESOLVER,  # issue 7: outbound MTA-STS
        **bounce_context(settings),  # issue 6: the bounce pipeline (MAILOPS-BOUNCES)
    }


def dovecot_context(settings: MailSettings, *, tls_cert: str = TLS_CERT,
                    tls_key: str = TLS_KEY, users_file: str = DOVECOT_USERS,
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
        # MAILOPS-SECURITY: the listener the END-OF-MESSAGE quota policy asks
        "quota_eod_listener": QUOTA_EOD_LISTENER, "quota_eod_user": QUOTA_EOD_USER,
    }


def opendkim_context(settings: MailSettings, selectors: Mapping[str, str], *,
                     tables_dir: str = OPENDKIM_DIR, keys_dir: str = OPENDKIM_KEYS_DIR,
                     spool: str = POSTFIX_SPOOL) -> dict[str, Any]:
    """Template variables for templates/opendkim/*.j2; ``selectors``: domain -> selector."""
    missing = set(hosted_domains(settings)) - {d.lower() for d in selectors}
    if missing:
        raise MailhostError(
            f"found no DKIM key for {', '.join(sorted(missing))}; expected one active key per "
            "hosted domain — every hosted domain's mail is signed. Run `mailops rotate-dkim` "
            "or let the deploy create the key in the keystore."
        )
    return {
        "hostname": settings.hostname.lower(),
        "keys": dkim_keys(selectors, keys_dir),
        "signature_algorithm": dkim_signature_algorithm(settings),
        "trusted_hosts": trusted_hosts(settings),
        "tables_dir": tables_dir,
        "socket": f"{spool}/{OPENDKIM_SOCKET}",
        "resolvers": list(settings.resolvers),
        # MAILOPS-SECURITY: the FinalPolicyScript that refuses another tenant's From:.
        "sender_policy": f"{tables_dir}/sender-policy.lua",
        "sender_logins": sorted(addresses_of_login(settings).items()),
        # END MAILOPS-SECURITY
    }


# --------------------------------------------------------------------------- rendering


def template_path(name: str) -> Path:
    """templates/<service>/<file>.j2 by its repo-relative name, e.g. 'postfix/main.cf.j2'."""
    return TEMPLATES_DIR / name


def render(name: str, **context: Any) -> str:
    """Render templates/<name> (e.g. 'postfix/main.cf.j2') of this checkout."""
    return render_file(template_path(name), **context)


def render_file(path: str | Path, **context: Any) -> str:
    """Render a template exactly as pyinfra's files.template does (pyinfra.api.util).

    Same Environment options (StrictUndefined, keep_trailing_newline) plus
    JINJA_ENV_KWARGS, so tests validate what the deploy uploads; also used by the
    tasks for files that must not be diffed (the Dovecot passwd-file).
    """
    from jinja2 import Environment, StrictUndefined

    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True,
                      **JINJA_ENV_KWARGS)
    return env.from_string(Path(path).read_text()).render(**context)


# --------------------------------------------------------------------------- TLS (ACME) and MTA-STS
# Issue 7. Pure helpers for tasks/tls.py (ACME branch) and tasks/mta_sts.py.

ACME_CERT_NAME = "mailops"  # certbot lineage: /etc/letsencrypt/live/mailops/
ACME_LIVE = f"/etc/letsencrypt/live/{ACME_CERT_NAME}"
ACME_CREDENTIALS = "/etc/letsencrypt/mailops-dns.ini"  # root 0600, never diffed
ACME_DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-mailops"
ACME_CA_BUNDLE = "/usr/local/share/ca-certificates/mailops-acme-server.crt"
MTA_STS_DIR = "/etc/mailops/mta-sts"  # <domain>.txt, served by nginx
NGINX_SITE = "/etc/nginx/conf.d/mailops-mta-sts.conf"
# postfix-mta-sts-resolver's socketmap (its Debian default address).
MTA_STS_RESOLVER = "socketmap:inet:127.0.0.1:8461:postfix"


def mta_sts_domains(settings: MailSettings) -> list[str]:
    """Hosted domains that publish an MTA-STS policy (mode testing or enforce)."""
    return sorted(d.name for d in settings.domains if d.mta_sts.mode != "none")


def acme_names(settings: MailSettings) -> list[str]:
    """Names on the ACME certificate: the host name (SMTP, IMAP: the MX target senders
    verify, RFC 7817 / RFC 8461 §4.1) first, then mta-sts.<domain> for every policy
    domain (the policy host, RFC 8461 §3.3)."""
    return [settings.hostname.lower()] + [f"mta-sts.{d}" for d in mta_sts_domains(settings)]


def mta_sts_policies(all_hosts: Iterable[MailSettings], settings: MailSettings
                     ) -> dict[str, str]:
    """domain -> the policy text this host serves; built from EVERY host of the
    inventory serving the domain, exactly as the DNS side computes the `_mta-sts` id
    (mailops.dns.records.mta_sts_policy), so served text and announced id agree."""
    from .dns.records import mta_sts_policy

    hosts = list(all_hosts) or [settings]
    return {d: mta_sts_policy(hosts, d) for d in mta_sts_domains(settings)}


def acme_credentials(kind: str, provider_server: str, provider_port: int,
                     secret: str) -> str:
    """The certbot DNS plugin credentials file (content is secret: never print it).

    rfc2136: ``secret`` is MAILOPS_TSIG's "name:algorithm:base64"; cloudflare: the token.
    """
    if kind == "cloudflare":
        return f"dns_cloudflare_api_token = {secret.strip()}\n"
    parts = secret.strip().split(":")
    if len(parts) != 3 or not all(parts):
        raise MailhostError(
            "found a TSIG value that is not name:algorithm:base64secret (not shown); expected "
            "e.g. 'mailops:hmac-sha256:AbC…=' — fix the environment variable named by "
            "dns.tsig_env and deploy again")
    name, algorithm, key = parts
    return (f"dns_rfc2136_server = {provider_server}\n"
            f"dns_rfc2136_port = {provider_port}\n"
            f"dns_rfc2136_name = {name}\n"
            f"dns_rfc2136_secret = {key}\n"
            f"dns_rfc2136_algorithm = {algorithm.upper()}\n")


# --------------------------------------------------------------------------- bounces (issue 6)
# MAILOPS-BOUNCES: on-host layout of the bounce pipeline and the Postfix tables that
# route bounces+<token>@<domain> to it. Used by tasks/bounce.py, tasks/postfix.py, the
# templates and `mailops bounces|suppression`.

BOUNCE_USER = "mailops-bounce"  # runs the hook (pipe(8) user=); owns the database
BOUNCE_LOCAL = "bounces"  # the return-path local part: bounces[+<token>]@<domain>
BOUNCE_SERVICE = "mailops-bounce"  # the master.cf pipe service transport_maps names
BOUNCE_LIB = "/usr/local/lib/mailops/bounce"  # the hook and its stdlib-only siblings
BOUNCE_STATE_DIR = "/var/lib/mailops"
BOUNCE_DB = f"{BOUNCE_STATE_DIR}/bounces.sqlite3"  # = bounce.config.DEFAULT_DB_PATH
BOUNCE_QUARANTINE = f"{BOUNCE_STATE_DIR}/quarantine"
BOUNCE_SECRET = "/etc/mailops/bounce-secret"  # made on the host, never leaves it
SUPPRESSION_MAP = f"{POSTFIX_MAPS_DIR}/suppression.cf"  # sqlite_table(5), via proxymap
# The modules of mailops.bounce the hook imports (directly or through parse/store);
# tests/unit/test_bounce_wiring.py checks this list against the real imports.
BOUNCE_HOOK_MODULES = ("hook", "config", "parse", "classify", "legacy", "mime", "store",
                       "verp")


def bounce_addresses(settings: MailSettings) -> list[str]:
    """``bounces@<domain>`` for every hosted domain (the return path without token).

    Refuses an inventory that already uses the name: mail to it would silently go to
    the bounce hook instead of the mailbox or alias.
    """
    taken = {_lower(a) for d in settings.domains
             for a in [m.address for m in d.mailboxes] + [a for a, _ in d.aliases]}
    out = [f"{BOUNCE_LOCAL}@{d}" for d in hosted_domains(settings)]
    clash = sorted(set(out) & taken)
    if clash:
        raise MailhostError(
            f"found {', '.join(clash)} as a mailbox or alias; expected the local part "
            f"{BOUNCE_LOCAL!r} to be free in every hosted domain — mailops receives "
            "delivery-status notifications there (bounces+<token>@domain) and would take "
            "that mail away from the mailbox. Rename the mailbox or alias in the inventory."
        )
    return out


def bounce_transport_map(settings: MailSettings) -> list[tuple[str, str]]:
    """transport_maps: ``bounces@<domain>`` -> ``mailops-bounce:`` (the pipe service).

    transport(5) looks up ``bounces+<token>@domain`` and then ``bounces@domain``
    (recipient_delimiter = +), so one line per domain covers every token.
    """
    return [(a, f"{BOUNCE_SERVICE}:") for a in bounce_addresses(settings)]


def bounce_sender_map(settings: MailSettings) -> list[tuple[str, list[str]]]:
    """smtpd_sender_login_maps: every mailbox of a domain may use its return path.

    An application authenticated as any mailbox of example.com may send with
    ``MAIL FROM:<bounces+<token>@example.com>``; the bounces come back to the hook,
    never to a person, so this lends no one else's identity.
    """
    boxes = mailboxes(settings)
    out = []
    for address in bounce_addresses(settings):
        domain = _split(address)[1]
        logins = [m for m in boxes if _split(m)[1] == domain]
        if logins:
            out.append((address, logins))
    return out


def bounce_pipe_argv() -> list[str]:
    """The master.cf argv= of the pipe service (pipe(8) expands ${sender} ${recipient};
    a null sender arrives as MAILER-DAEMON)."""
    return ["/usr/bin/python3", "-S", f"{BOUNCE_LIB}/hook.py", "--db", BOUNCE_DB,
            "--quarantine", BOUNCE_QUARANTINE, "--secret-file", BOUNCE_SECRET,
            "${sender}", "${recipient}"]


def bounce_context(settings: MailSettings) -> dict[str, Any]:
    """Template variables for the bounce parts of templates/postfix/*.j2."""
    from .bounce.store import POSTFIX_QUERY

    return {
        "bounce_addresses": bounce_addresses(settings),
        "bounce_transport_map": bounce_transport_map(settings),
        "bounce_sender_map": bounce_sender_map(settings),
        "bounce_service": BOUNCE_SERVICE,
        "bounce_user": BOUNCE_USER,
        "bounce_pipe_argv": " ".join(bounce_pipe_argv()),
        "bounce_db": BOUNCE_DB,
        # MAILOPS-SECURITY: Postfix itself writes "<address>: Recipient address rejected: "
        # before an access map's text, so the text must not name the address again.
        "suppression_query": POSTFIX_QUERY.replace(
            "' <' || address || '>: recipient suppressed", "' recipient suppressed"),
    }
