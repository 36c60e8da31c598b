"""TLS certificates and keys: /etc/mailops/tls/{fullchain,privkey}.pem for every service.

settings.tls.mode:
- "files": the operator's certificate chain and key (files on the operator machine,
  checked here: mailops.inventory.machine) are uploaded. The key goes through
  tasks._secret.secret_file: digest-compared, never diffed or printed, created 0600
  root before any byte is written.
- "self-signed": the host makes its own certificate with openssl, once — only when the
  key or the certificate is missing (fact check), never replacing an existing pair.
- "acme": Debian's certbot obtains the certificates of mailops.services.tls.certificates
  — the host name's (lineage ``mailops``) and, past the CA's name limit, more for the
  remaining ``mta-sts.<domain>`` names (``mailops-2``, …) — with DNS-01 (RFC 8555 §8.4)
  through the domains' DNS provider (python3-certbot-dns-rfc2136 / -cloudflare): no
  port 80. The provider credentials (TSIG secret or Cloudflare token, from the
  operator's environment, the variable the inventory names) are uploaded to
  /etc/letsencrypt/mailops-dns.ini with tasks._secret.secret_file (root 0600, never
  diffed). Trade-off: certbot.timer renews unattended only because that credential
  stays on the host; scope it (a TSIG key allowed to update only ``_acme-challenge``
  names, a Cloudflare token limited to the zone's DNS) so a compromised host cannot
  rewrite MX or SPF. The deploy hook (templates/certbot/deploy-hook.sh.j2) copies a
  renewed pair next to the others in /etc/mailops/tls and reloads Postfix, Dovecot and
  nginx. A certificate is issued only when its live names or ACME server differ from
  the inventory; lineages the inventory no longer needs are deleted.

Both Postfix and Dovecot read the key as root before dropping privileges, so it stays
root:root 0600. The services reload when anything here changed: see :func:`changes`.
"""

from __future__ import annotations

import os
import re

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import files, server, systemd

from mailops.inventory import MailSettings
from mailops.inventory.machine import local_file
from mailops.services import tls as svc
from mailops.services.tls import TLS_CERT, TLS_DIR, TLS_KEY, Certificate

from ._common import ensure_packages, local_secret, template
from ._secret import secret_file

# host name -> the operations of tls.configure() that can change a certificate or
# key; dovecot/postfix/mta_sts gate their reloads on them.
_CHANGES: dict[str, list[OperationMeta]] = {}


def changes() -> list[OperationMeta]:
    """The certificate/key operations of this host (empty if tls.configure did not run)."""
    return list(_CHANGES.get(host.name, []))


def _pair_missing() -> bool:
    return not (host.get_fact(File, path=TLS_KEY) and host.get_fact(File, path=TLS_CERT))


@deploy("TLS certificate")
def configure(settings: MailSettings) -> list[OperationMeta]:
    tls = settings.tls
    ops: list[OperationMeta] = []

    files.directory(name="Create /etc/mailops", path="/etc/mailops",
                    user="root", group="root", mode="755")
    files.directory(name=f"Create {TLS_DIR}", path=TLS_DIR, user="root", group="root", mode="755")

    if tls.mode == "acme":
        ops += _acme(settings)
    elif tls.mode == "files":
        cert = local_file(tls.cert_file, "tls.cert_file")
        key = local_file(tls.key_file, "tls.key_file")
        ops.append(files.put(
            name=f"Upload the TLS certificate chain to {TLS_CERT}",
            src=str(cert), dest=TLS_CERT, user="root", group="root", mode="644",
        ))
        ops.append(secret_file(
            name=f"Upload the TLS private key to {TLS_KEY} (content never shown)",
            src=str(key), dest=TLS_KEY, user="root", group="root", mode="600",
        ))
    else:
        ensure_packages("Install openssl", ["openssl"])
        hostname = settings.hostname.lower()
        # umask 077: the key is never readable by anyone but root, not even between
        # openssl writing it and the chmod below.
        make_cert = (
            "umask 077 && openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -noenc"
            f" -subj '/CN={hostname}' -addext 'subjectAltName=DNS:{hostname}'"
            f" -keyout {TLS_KEY} -out {TLS_CERT} 2>/dev/null"
        )
        if _pair_missing():
            ops.append(server.shell(
                name=f"Make a self-signed certificate for {hostname} (only if none exists)",
                commands=[make_cert],
                # Checked again when the deploy runs, so an existing pair is never replaced.
                _if=_pair_missing,
            ))
        ops.append(files.file(name=f"{TLS_KEY}: root 0600", path=TLS_KEY,
                              user="root", group="root", mode="600"))
        ops.append(files.file(name=f"{TLS_CERT}: root 0644", path=TLS_CERT,
                              user="root", group="root", mode="644"))

    _CHANGES[host.name] = ops
    return ops


# --------------------------------------------------------------------------- ACME

ACME_SERVICES = ("postfix", "dovecot", "nginx")


def state_command(cert: Certificate) -> str:
    """One line per fact an issuance depends on: the ACME server, then the live SANs."""
    return (f"sed -n 's/^server = //p' /etc/letsencrypt/renewal/{cert.lineage}.conf "
            f"2>/dev/null; openssl x509 -in {cert.live}/cert.pem -noout -ext "
            "subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ' | tr ',' '\\n' "
            "| sed 's/^DNS://' | LC_ALL=C sort; true")


def wanted_state(settings: MailSettings, cert: Certificate) -> str:
    return "\n".join([settings.tls.acme_server, *sorted(cert.names)])


def installed_command(cert: Certificate) -> str:
    return (f"cmp -s {cert.live}/fullchain.pem {cert.cert} && "
            f"cmp -s {cert.live}/privkey.pem {cert.key} && echo same || echo differs")


LINEAGES_COMMAND = "ls /etc/letsencrypt/renewal 2>/dev/null; true"


def certbot_command(settings: MailSettings, cert: Certificate, plugin: str) -> str:
    tls = settings.tls
    return " ".join([
        "certbot", "certonly", "--non-interactive", "--agree-tos", "--quiet",
        "--cert-name", cert.lineage, "--server", tls.acme_server,
        *(["--email", tls.acme_email] if tls.acme_email
          else ["--register-unsafely-without-email"]),
        f"--dns-{plugin}", f"--dns-{plugin}-credentials", svc.ACME_CREDENTIALS,
        f"--dns-{plugin}-propagation-seconds", str(tls.acme_propagation_seconds),
        # Reached only when names or server differ from the live certificate: then
        # replace it now, without the interactive "update the names?" question.
        "--force-renewal", "--renew-with-new-domains",
        *[a for n in cert.names for a in ("-d", n)],
    ])


def _acme(settings: MailSettings) -> list[OperationMeta]:
    tls = settings.tls
    domain = settings.domains[0]  # the inventory's rules: one provider account for all
    provider = domain.dns
    plugin = "cloudflare" if provider.kind == "cloudflare" else "rfc2136"
    ops: list[OperationMeta] = []

    ensure_packages(f"Install certbot and its DNS plugin ({plugin})",
                    ["certbot", f"python3-certbot-dns-{plugin}"])

    if tls.acme_ca_bundle:
        # A test ACME server (Pebble) has its own CA: trusted system-wide, because
        # certbot (python3-requests on Debian) reads the system bundle, also when
        # certbot.timer runs it. Trade-off: the host then trusts that CA for all TLS.
        bundle = files.put(name=f"Trust the ACME server's CA ({svc.ACME_CA_BUNDLE})",
                           src=str(local_file(tls.acme_ca_bundle, "tls.acme_ca_bundle")),
                           dest=svc.ACME_CA_BUNDLE, user="root", group="root", mode="644")
        server.shell(name="update-ca-certificates (ACME server CA changed)",
                     commands=["update-ca-certificates"], _if=bundle.did_change)

    env_name = provider.token_env if plugin == "cloudflare" else provider.tsig_env
    secret = os.environ.get(env_name, "")
    if secret:
        content = svc.acme_credentials(provider, secret, domain.name)
        secret_file(
            name=f"certbot DNS credentials {svc.ACME_CREDENTIALS} (content never shown)",
            src=local_secret(content, "certbot-dns"), dest=svc.ACME_CREDENTIALS,
            user="root", group="root", mode="600",
        )
    elif not host.get_fact(File, path=svc.ACME_CREDENTIALS):
        raise DeployError(
            f"tls.mode acme: found no ${env_name} in the environment and no "
            f"{svc.ACME_CREDENTIALS} on {host.name}; expected the DNS credential certbot "
            "answers DNS-01 challenges with — export it (see README, 'TLS and ACME') and "
            "deploy again")
    # else: the host keeps the credential it has; nothing to compare it with.
    # (A changed credential or hook alone needs no reload of any service.)

    certs = svc.certificates(settings)
    template(f"certbot deploy hook {svc.ACME_DEPLOY_HOOK}", "certbot/deploy-hook.sh.j2",
             svc.ACME_DEPLOY_HOOK,
             {"hook": svc.ACME_DEPLOY_HOOK, "certificates": certs, "services": ACME_SERVICES},
             mode="755")

    for cert in certs:
        if cert.directory != TLS_DIR:
            files.directory(name=f"Create {cert.directory}", path=cert.directory,
                            user="root", group="root", mode="755")
        issued = _issue(settings, cert, plugin)
        ops += issued

        def not_installed(cert: Certificate = cert) -> bool:
            out = host.get_fact(Command, command=installed_command(cert)) or ""
            return out.strip() != "same"

        if not_installed() or issued:
            ops.append(server.shell(
                name=f"Install the ACME certificate {cert.lineage} in {cert.directory}",
                commands=[f"RENEWED_LINEAGE={cert.live} MAILOPS_NO_RELOAD=1 "
                          f"{svc.ACME_DEPLOY_HOOK}"],
                _if=not_installed,
            ))

    _delete_unused_lineages(certs)  # no service reads them any more: no reload
    systemd.service(name="certbot.timer enabled (renewals twice a day)",
                    service="certbot.timer", running=True, enabled=True)
    return ops


def _issue(settings: MailSettings, cert: Certificate, plugin: str) -> list[OperationMeta]:
    wanted = wanted_state(settings, cert)

    def needs_issuance() -> bool:
        return (host.get_fact(Command, command=state_command(cert)) or "").strip() != wanted

    if not needs_issuance():
        return []
    shown = ", ".join(cert.names[:3]) + (f" and {len(cert.names) - 3} more"
                                         if len(cert.names) > 3 else "")
    return [server.shell(
        name=f"Obtain the certificate {cert.lineage} for {shown} (ACME DNS-01, certbot)",
        commands=[certbot_command(settings, cert, plugin)],
        _if=needs_issuance,
    )]


def _delete_unused_lineages(certs: list[Certificate]) -> list[OperationMeta]:
    """Extra lineages (mailops-N) the inventory no longer needs: their names moved into
    the other certificates, and renewing them would keep proving names for nothing."""
    wanted = {c.lineage for c in certs}
    listed = (host.get_fact(Command, command=LINEAGES_COMMAND) or "").split()
    pattern = re.compile(rf"^({re.escape(svc.ACME_CERT_NAME)}-\d+)\.conf$")
    unused = sorted(m.group(1) for m in map(pattern.match, listed) if m
                    and m.group(1) not in wanted)
    return [server.shell(
        name=f"Delete the certificate {lineage} (no longer needed)",
        commands=[f"certbot delete --non-interactive --cert-name {lineage}",
                  f"rm -rf {TLS_DIR}/{lineage}"],
    ) for lineage in unused]
