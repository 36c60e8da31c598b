"""TLS: where the certificates sit on the host, and which certificates ACME must issue.

Postfix, Dovecot and nginx read the host's certificate from /etc/mailops/tls
(tasks/tls.py puts it there, whatever ``tls.mode`` says). With ``tls.mode: acme``
the names — the host name, then ``mta-sts.<domain>`` for every policy domain — are
split into as many certificates as the CA's per-certificate name limit requires:
the first (certbot lineage ``mailops``) carries the host name, which Postfix and
Dovecot present; the others (``mailops-2``, ``mailops-3``, …) carry only
``mta-sts.<domain>`` names, which only nginx serves, picking the certificate by
SNI (RFC 6066 §3) per ``server_name``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..inventory import DnsProvider, MailSettings, Tls

TLS_DIR = "/etc/mailops/tls"
TLS_CERT = f"{TLS_DIR}/fullchain.pem"
TLS_KEY = f"{TLS_DIR}/privkey.pem"

ACME_CERT_NAME = "mailops"  # certbot lineage of the host name: /etc/letsencrypt/live/mailops/
ACME_LIVE = f"/etc/letsencrypt/live/{ACME_CERT_NAME}"
ACME_CREDENTIALS = "/etc/letsencrypt/mailops-dns.ini"  # root 0600, never diffed
ACME_DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/50-mailops"
ACME_CA_BUNDLE = "/usr/local/share/ca-certificates/mailops-acme-server.crt"
# The default of tls.acme_names_per_certificate: Let's Encrypt's limit.
ACME_MAX_NAMES = Tls().acme_names_per_certificate


@dataclass(frozen=True)
class Certificate:
    """One certificate: its certbot lineage, its names, where the services read it."""

    lineage: str  # certbot --cert-name
    names: tuple[str, ...]
    cert: str  # fullchain path on the host
    key: str

    @property
    def live(self) -> str:
        return f"/etc/letsencrypt/live/{self.lineage}"

    @property
    def directory(self) -> str:
        return self.cert.rsplit("/", 1)[0]


def mta_sts_domains(settings: MailSettings) -> list[str]:
    """Hosted domains that publish an MTA-STS policy (mode testing or enforce)."""
    return sorted(d.name for d in settings.domains if d.mta_sts.mode != "none")


def acme_names(settings: MailSettings) -> list[str]:
    """Every name ACME certifies: the host name (SMTP, IMAP: the MX target senders
    verify, RFC 7817 / RFC 8461 §4.1) first, then mta-sts.<domain> for every policy
    domain (the policy host, RFC 8461 §3.3)."""
    return [settings.hostname.lower()] + [f"mta-sts.{d}" for d in mta_sts_domains(settings)]


def certificates(settings: MailSettings) -> list[Certificate]:
    """The certificates of the host: the host name's first, at the paths every service
    reads; under ACME, further ones of at most ``tls.acme_names_per_certificate`` names
    each, in name order, so adding a domain re-issues only the certificate it lands in
    and those after it."""
    host = Certificate(ACME_CERT_NAME, (settings.hostname.lower(),), TLS_CERT, TLS_KEY)
    if settings.tls.mode != "acme":
        return [host]
    names = acme_names(settings)
    limit = settings.tls.acme_names_per_certificate
    out = [Certificate(ACME_CERT_NAME, tuple(names[:limit]), TLS_CERT, TLS_KEY)]
    for i, start in enumerate(range(limit, len(names), limit), start=2):
        lineage = f"{ACME_CERT_NAME}-{i}"
        out.append(Certificate(lineage, tuple(names[start:start + limit]),
                               f"{TLS_DIR}/{lineage}/fullchain.pem",
                               f"{TLS_DIR}/{lineage}/privkey.pem"))
    return out


def certificate_for(settings: MailSettings, name: str) -> Certificate:
    """The certificate that serves ``name`` (the host's when no other lists it)."""
    certs = certificates(settings)
    return next((c for c in certs if name in c.names), certs[0])


def acme_credentials(provider: DnsProvider, secret: str, domain: str) -> str:
    """The certbot DNS plugin credentials file (content is secret: never print it).

    rfc2136: ``secret`` is the TSIG value "name:algorithm:base64", read by the same
    parser the RFC 2136 provider uses (its errors never show the secret);
    cloudflare: the API token.
    """
    if provider.kind == "cloudflare":
        return f"dns_cloudflare_api_token = {secret.strip()}\n"
    import base64

    from ..dns.providers.rfc2136 import parse_tsig

    keyring, name, algorithm = parse_tsig(secret.strip(), provider.tsig_env, domain)
    key = base64.b64encode(keyring[name].secret).decode()
    return (f"dns_rfc2136_server = {provider.server}\n"
            f"dns_rfc2136_port = {provider.port}\n"
            f"dns_rfc2136_name = {name.to_text(omit_final_dot=True)}\n"
            f"dns_rfc2136_secret = {key}\n"
            f"dns_rfc2136_algorithm = {algorithm.to_text(omit_final_dot=True).upper()}\n")
