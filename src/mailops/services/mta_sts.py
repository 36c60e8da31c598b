"""MTA-STS: the policies this host serves over HTTPS (nginx) and the resolver Postfix asks.

Inbound (RFC 8461 §3.3): nginx serves ``https://mta-sts.<domain>/.well-known/
mta-sts.txt`` for every policy domain, each with the certificate that carries its
name (services/tls.py). Outbound (RFC 8461 §5): postfix-mta-sts-resolver answers
Postfix's ``smtp_tls_policy_maps``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..inventory import MailSettings
from .tls import TLS_CERT, TLS_KEY, certificate_for, mta_sts_domains

MTA_STS_DIR = "/etc/mailops/mta-sts"  # <domain>.txt, served by nginx
NGINX_SITE = "/etc/nginx/conf.d/mailops-mta-sts.conf"
# postfix-mta-sts-resolver's socketmap (its Debian default address).
MTA_STS_RESOLVER = "socketmap:inet:127.0.0.1:8461:postfix"

__all__ = ["MTA_STS_DIR", "MTA_STS_RESOLVER", "NGINX_SITE", "mta_sts_domains",
           "mta_sts_policies", "nginx_context"]


def mta_sts_policies(all_hosts: Iterable[MailSettings], settings: MailSettings
                     ) -> dict[str, str]:
    """domain -> the policy text this host serves; built from EVERY host of the
    inventory serving the domain, exactly as the DNS side computes the `_mta-sts` id
    (mailops.dns.records.mta_sts_policy), so served text and announced id agree."""
    from ..dns.records import mta_sts_policy

    hosts = list(all_hosts) or [settings]
    return {d: mta_sts_policy(hosts, d) for d in mta_sts_domains(settings)}


def nginx_context(settings: MailSettings, domains: Iterable[str]) -> dict[str, Any]:
    """Template variables for templates/nginx/mailops-mta-sts.conf.j2: one HTTPS site per
    policy domain, each with the certificate that names it (nginx picks by SNI)."""
    sites = []
    for domain in sorted(domains):
        cert = certificate_for(settings, f"mta-sts.{domain}")
        sites.append({"domain": domain, "cert": cert.cert, "key": cert.key})
    return {
        "site": NGINX_SITE,
        "sites": sites,
        # IPv6 too when the host has a public IPv6 address (its AAAA record).
        "listens": ["443"] + (["[::]:443"] if settings.ipv6 else []),
        "tls_cert": TLS_CERT,  # the catch-all site: the host's certificate
        "tls_key": TLS_KEY,
        "policy_dir": MTA_STS_DIR,
    }
