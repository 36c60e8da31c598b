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

from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import mta_sts as svc

from . import _snapshot as snapshot
from . import tls
from ._common import enabled_and_running, ensure_packages
from ._staged import Dir, changed_paths, rendered, staged_files, text


@deploy("MTA-STS")
def configure(settings: MailSettings, all_hosts: list[MailSettings]) -> None:
    """``all_hosts``: every mail host of the inventory (a domain served by two hosts
    lists both in its policy's mx lines)."""
    policies = svc.mta_sts_policies(all_hosts, settings)

    ensure_packages("Install nginx-light and postfix-mta-sts-resolver",
                    ["nginx-light", "postfix-mta-sts-resolver"])

    # Outbound: the resolver Postfix asks before each delivery (Debian's defaults:
    # 127.0.0.1:8461, an in-memory cache).
    enabled_and_running("postfix-mta-sts-resolver enabled and running",
                        "postfix-mta-sts-resolver")

    # Every policy and the nginx site: ONE staged operation (one digest fact however
    # many domains); the site goes live only after `nginx -t` accepted it.
    served = [text(policy, f"{svc.MTA_STS_DIR}/{domain}.txt")
              for domain, policy in sorted(policies.items())]
    served.append(rendered("nginx/mailops-mta-sts.conf.j2", svc.NGINX_SITE,
                           svc.nginx_context(settings, policies)))
    staged_files(name="MTA-STS policies and the nginx site (checked with nginx -t first)",
                 set_name="mta-sts", files=served, dirs=[Dir(svc.MTA_STS_DIR)],
                 check=svc.CHECK)
    # Debian's default site answers on port 80 with a welcome page; policies are
    # served over HTTPS only (RFC 8461 §3.3), so nothing listens on 80.
    enabled = "/etc/nginx/sites-enabled/default"
    present = f"[ -e {enabled} ] || [ -L {enabled} ] && echo present"
    snapshot.register(commands=[present])
    default = files.link(name="Remove nginx's default site (port 80)", path=enabled,
                         present=False, _if=lambda: snapshot.output(present) == "present")

    # A changed policy is a static file: no reload.
    def changed() -> bool:
        return svc.NGINX_SITE in changed_paths("mta-sts") or default.did_change()

    systemd.service(name="Reload nginx (site changed)", service="nginx", running=None,
                    reloaded=True, _if=changed)
    systemd.service(name="Reload nginx (TLS certificate changed)", service="nginx",
                    running=None, reloaded=True,
                    _if=lambda: not changed() and any_changed(*tls.changes())())
    enabled_and_running("nginx enabled and running", "nginx")
