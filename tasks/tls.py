"""TLS certificates and keys: /etc/mailops/tls/{fullchain,privkey}.pem for every service.

settings.tls.mode:
- "files": the operator's certificate chain and key (files on the operator machine,
  checked here: mailops.inventory.machine) are uploaded together as one
  tasks._staged operation: digest-compared, never diffed or printed, the key 0600 root
  in a 0700 staging directory, and live only once the staged key matches the staged
  certificate.
- "self-signed": the host makes its own certificate with openssl, once — only when the
  key or the certificate is missing (fact check), never replacing an existing pair.
- "acme": Debian's certbot obtains the certificates of mailops.services.tls.certificates
  — the host name's (lineage ``mailops``) and, past the CA's name limit, more for the
  remaining ``mta-sts.<domain>`` names (``mailops-2``, …) — with DNS-01 (RFC 8555 §8.4)
  through the domains' DNS provider (python3-certbot-dns-rfc2136 / -cloudflare): no
  port 80. The provider credentials (TSIG secret or Cloudflare token, from the
  operator's environment, the variable the inventory names) are uploaded to
  /etc/letsencrypt/mailops-dns.ini through tasks._staged (root 0600, never
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
from pyinfra.operations import files, server

from mailops.inventory import MailSettings
from mailops.inventory.machine import local_file
from mailops.services import tls as svc
from mailops.services.tls import CHECK_PAIR, TLS_CERT, TLS_DIR, TLS_KEY, Certificate

from . import _snapshot as snapshot
from ._common import enabled_and_running, ensure_packages
from ._staged import Dir, Managed, changed_paths, local, rendered, staged_files, text

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

    dirs = [Dir("/etc/mailops"), Dir(TLS_DIR)]

    if tls.mode == "acme":
        ops += _acme(settings, dirs)
    elif tls.mode == "files":
        # The pair in ONE operation: the key never goes live without its certificate.
        ops.append(staged_files(
            name=f"Upload the TLS certificate chain and key to {TLS_DIR} (key never shown)",
            set_name="tls", dirs=dirs, check=CHECK_PAIR,
            files=[local(local_file(tls.cert_file, "tls.cert_file"), TLS_CERT),
                   local(local_file(tls.key_file, "tls.key_file"), TLS_KEY, mode="600")]))
    else:
        staged_files(name=f"Create {TLS_DIR}", set_name="tls", files=[], dirs=dirs)
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


def _acme(settings: MailSettings, dirs: list[Dir]) -> list[OperationMeta]:
    tls = settings.tls
    domain = settings.domains[0]  # the inventory's rules: one provider account for all
    provider = domain.dns
    plugin = "cloudflare" if provider.kind == "cloudflare" else "rfc2136"
    ops: list[OperationMeta] = []

    ensure_packages(f"Install certbot and its DNS plugin ({plugin})",
                    ["certbot", f"python3-certbot-dns-{plugin}"])

    # The certbot side in ONE operation (one digest fact): directories, the DNS
    # credential, the deploy hook and, for a test ACME server, its CA.
    files_: list[Managed] = []
    if tls.acme_ca_bundle:
        # A test ACME server (Pebble) has its own CA: trusted system-wide, because
        # certbot (python3-requests on Debian) reads the system bundle, also when
        # certbot.timer runs it. Trade-off: the host then trusts that CA for all TLS.
        files_.append(local(local_file(tls.acme_ca_bundle, "tls.acme_ca_bundle"),
                            svc.ACME_CA_BUNDLE))

    env_name = provider.token_env if plugin == "cloudflare" else provider.tsig_env
    secret = os.environ.get(env_name, "")
    if secret:
        files_.append(text(svc.acme_credentials(provider, secret, domain.name),
                           svc.ACME_CREDENTIALS, mode="600"))
    elif not host.get_fact(File, path=svc.ACME_CREDENTIALS):
        raise DeployError(
            f"tls.mode acme: found no ${env_name} in the environment and no "
            f"{svc.ACME_CREDENTIALS} on {host.name}; expected the DNS credential certbot "
            "answers DNS-01 challenges with — export it (see README, 'TLS and ACME') and "
            "deploy again")
    # else: the host keeps the credential it has; nothing to compare it with.
    # (A changed credential or hook alone needs no reload of any service.)

    certs = svc.certificates(settings)
    # Every state question of the certificates, answered in the deploy's one pass.
    snapshot.register(commands=[LINEAGES_COMMAND, *[c for cert in certs for c in (
        state_command(cert), installed_command(cert))]])
    files_.append(rendered("certbot/deploy-hook.sh.j2", svc.ACME_DEPLOY_HOOK,
                           {"hook": svc.ACME_DEPLOY_HOOK, "certificates": certs,
                            "services": ACME_SERVICES}, mode="755"))
    dirs += [Dir(c.directory) for c in certs if c.directory != TLS_DIR]
    staged_files(name="certbot credentials (never shown), deploy hook, directories",
                 set_name="tls", files=files_, dirs=dirs)
    if tls.acme_ca_bundle:
        server.shell(name="update-ca-certificates (ACME server CA changed)",
                     commands=["update-ca-certificates"],
                     _if=lambda: svc.ACME_CA_BUNDLE in changed_paths("tls"))

    for cert in certs:
        issued = _issue(settings, cert, plugin)
        ops += issued

        def not_installed(cert: Certificate = cert) -> bool:
            out = snapshot.output(installed_command(cert))
            return out.strip() != "same"

        if not_installed() or issued:
            ops.append(server.shell(
                name=f"Install the ACME certificate {cert.lineage} in {cert.directory}",
                commands=[f"RENEWED_LINEAGE={cert.live} MAILOPS_NO_RELOAD=1 "
                          f"{svc.ACME_DEPLOY_HOOK}"],
                _if=not_installed,
            ))

    _delete_unused_lineages(certs)  # no service reads them any more: no reload
    enabled_and_running("certbot.timer enabled (renewals twice a day)", "certbot.timer")
    return ops


def _issue(settings: MailSettings, cert: Certificate, plugin: str) -> list[OperationMeta]:
    wanted = wanted_state(settings, cert)

    def needs_issuance() -> bool:
        return snapshot.output(state_command(cert)).strip() != wanted

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
    listed = snapshot.output(LINEAGES_COMMAND).split()
    pattern = re.compile(rf"^({re.escape(svc.ACME_CERT_NAME)}-\d+)\.conf$")
    unused = sorted(m.group(1) for m in map(pattern.match, listed) if m
                    and m.group(1) not in wanted)
    return [server.shell(
        name=f"Delete the certificate {lineage} (no longer needed)",
        commands=[f"certbot delete --non-interactive --cert-name {lineage}",
                  f"rm -rf {TLS_DIR}/{lineage}"],
    ) for lineage in unused]
