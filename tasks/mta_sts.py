"""MTA-STS: serve every hosted domain's policy (inbound) and honour receivers' (outbound).

Inbound (RFC 8461 §3.3): nginx-light serves
``https://mta-sts.<domain>/.well-known/mta-sts.txt`` for every domain whose
``mta_sts.mode`` is not none, each with the certificate that carries its name
(mailops.services.tls: in ACME mode one or more certificates hold every
``mta-sts.<domain>``; nginx picks by SNI). The policy text comes from
mailops.dns.records.mta_sts_policy over EVERY host of the inventory — the same
function the DNS side hashes into the ``_mta-sts`` id — so the served policy and the
announced id cannot disagree (RFC 8461 §3.1: senders refetch only on a new id).
Each policy is a static file: changing one needs no nginx reload.

Outbound (RFC 8461 §5, RFC 7672): Debian's postfix-mta-sts-resolver answers
Postfix's ``smtp_tls_policy_maps`` socketmap (main.cf, MAILOPS-MTA-STS-DANE section);
DANE comes from Postfix itself (``smtp_tls_security_level = dane``).
"""

from __future__ import annotations

from io import StringIO

from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import mta_sts as svc

from . import tls
from ._common import ensure_packages, template


@deploy("MTA-STS")
def configure(settings: MailSettings, all_hosts: list[MailSettings]) -> None:
    """``all_hosts``: every mail host of the inventory (a domain served by two hosts
    lists both in its policy's mx lines)."""
    policies = svc.mta_sts_policies(all_hosts, settings)

    ensure_packages("Install nginx-light and postfix-mta-sts-resolver",
                    ["nginx-light", "postfix-mta-sts-resolver"])

    # Outbound: the resolver Postfix asks before each delivery (Debian's defaults:
    # 127.0.0.1:8461, an in-memory cache).
    systemd.service(name="postfix-mta-sts-resolver enabled and running",
                    service="postfix-mta-sts-resolver", running=True, enabled=True)

    files.directory(name=f"Create {svc.MTA_STS_DIR}", path=svc.MTA_STS_DIR,
                    user="root", group="root", mode="755")
    for domain, text in sorted(policies.items()):
        files.put(name=f"MTA-STS policy of {domain}", src=StringIO(text),
                  dest=f"{svc.MTA_STS_DIR}/{domain}.txt", user="root", group="root",
                  mode="644")

    site = template(f"Render {svc.NGINX_SITE}", "nginx/mailops-mta-sts.conf.j2",
                    svc.NGINX_SITE, svc.nginx_context(settings, policies))
    # Debian's default site answers on port 80 with a welcome page; policies are
    # served over HTTPS only (RFC 8461 §3.3), so nothing listens on 80.
    default = files.link(name="Remove nginx's default site (port 80)",
                         path="/etc/nginx/sites-enabled/default", present=False)

    changed = any_changed(site, default)
    server.shell(name="Check the nginx configuration (nginx -t)",
                 commands=["nginx -t -q"], _if=any_changed(site, default, *tls.changes()))
    systemd.service(name="Reload nginx (site changed)", service="nginx", running=None,
                    reloaded=True, _if=changed)
    systemd.service(name="Reload nginx (TLS certificate changed)", service="nginx",
                    running=None, reloaded=True,
                    _if=lambda: not changed() and any_changed(*tls.changes())())
    systemd.service(name="nginx enabled and running", service="nginx",
                    running=True, enabled=True)
