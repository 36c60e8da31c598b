"""TLS certificate and key for Postfix and Dovecot: /etc/mailops/tls/{fullchain,privkey}.pem.

settings.tls.mode:
- "files": the operator's certificate chain and key (files on the operator machine) are
  uploaded. The key goes through tasks._secret.secret_file: digest-compared, never
  diffed or printed, created 0600 root before any byte is written.
- "self-signed": the host makes its own certificate with openssl, once — only when the
  key or the certificate is missing (fact check), never replacing an existing pair.
- "acme": Debian's certbot obtains ONE certificate (lineage ``mailops``) for the host
  name and every ``mta-sts.<domain>`` with DNS-01 (RFC 8555 §8.4) through the domains'
  DNS provider (python3-certbot-dns-rfc2136 / -cloudflare): no port 80. The provider
  credentials (TSIG secret or Cloudflare token, from the operator's environment, the
  variable the inventory names) are uploaded to /etc/letsencrypt/mailops-dns.ini with
  tasks._secret.secret_file (root 0600, never diffed). Trade-off: certbot.timer renews
  unattended only because that credential stays on the host; scope it (a TSIG key
  allowed to update only ``_acme-challenge`` names, a Cloudflare token limited to the
  zone's DNS) so a compromised host cannot rewrite MX or SPF. certbot.timer (Debian's)
  renews; the deploy hook (templates/certbot/deploy-hook.sh.j2) copies the new pair to
  /etc/mailops/tls and reloads Postfix, Dovecot and nginx. Certificate issuance runs
  only when the live certificate's names or ACME server differ from the inventory.

Both Postfix and Dovecot read the key as root before dropping privileges, so it stays
root:root 0600. The services reload when anything here changed: see :func:`changes`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import files, server, systemd

from mailops import mailhost as mh
from mailops.mailhost import TLS_CERT, TLS_DIR, TLS_KEY
from mailops.settings import MailSettings

from ._common import ensure_packages, local_secret, template
from ._secret import secret_file

# host name -> the operations of tls.configure() that can change the certificate or
# key; dovecot/postfix gate their reloads on them (their configure() takes only settings).
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
        ops.append(files.put(
            name=f"Upload the TLS certificate chain to {TLS_CERT}",
            src=str(Path(tls.cert_file).expanduser().resolve()),
            dest=TLS_CERT, user="root", group="root", mode="644",
        ))
        ops.append(secret_file(
            name=f"Upload the TLS private key to {TLS_KEY} (content never shown)",
            src=str(Path(tls.key_file).expanduser().resolve()),
            dest=TLS_KEY, user="root", group="root", mode="600",
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


# --------------------------------------------------------------------------- ACME (issue 7)

ACME_SERVICES = ("postfix", "dovecot", "nginx")


def _acme_state_command() -> str:
    """One line per fact the issuance depends on: the ACME server, then the live SANs."""
    return (f"sed -n 's/^server = //p' /etc/letsencrypt/renewal/{mh.ACME_CERT_NAME}.conf "
            f"2>/dev/null; openssl x509 -in {mh.ACME_LIVE}/cert.pem -noout -ext "
            "subjectAltName 2>/dev/null | tail -n +2 | tr -d ' ' | tr ',' '\\n' "
            "| sed 's/^DNS://' | LC_ALL=C sort; true")


def _acme_wanted(settings: MailSettings) -> str:
    return "\n".join([settings.tls.acme_server, *sorted(mh.acme_names(settings))])


def _installed_command() -> str:
    return (f"cmp -s {mh.ACME_LIVE}/fullchain.pem {TLS_CERT} && "
            f"cmp -s {mh.ACME_LIVE}/privkey.pem {TLS_KEY} && echo same || echo differs")


def _acme(settings: MailSettings) -> list[OperationMeta]:
    tls = settings.tls
    provider = settings.domains[0].dns  # settings validated: one provider account for all
    plugin = "cloudflare" if provider.kind == "cloudflare" else "rfc2136"
    ops: list[OperationMeta] = []

    ensure_packages(f"Install certbot and its DNS plugin ({plugin})",
                    ["certbot", f"python3-certbot-dns-{plugin}"])

    if tls.acme_ca_bundle:
        # A test ACME server (Pebble) has its own CA: trusted system-wide, because
        # certbot (python3-requests on Debian) reads the system bundle, also when
        # certbot.timer runs it. Trade-off: the host then trusts that CA for all TLS.
        bundle = files.put(name=f"Trust the ACME server's CA ({mh.ACME_CA_BUNDLE})",
                           src=str(Path(tls.acme_ca_bundle).expanduser().resolve()),
                           dest=mh.ACME_CA_BUNDLE, user="root", group="root", mode="644")
        server.shell(name="update-ca-certificates (ACME server CA changed)",
                     commands=["update-ca-certificates"], _if=bundle.did_change)

    env_name = provider.token_env if plugin == "cloudflare" else provider.tsig_env
    secret = os.environ.get(env_name, "")
    creds_op = None
    if secret:
        content = mh.acme_credentials(provider.kind, provider.server, provider.port, secret)
        creds_op = secret_file(
            name=f"certbot DNS credentials {mh.ACME_CREDENTIALS} (content never shown)",
            src=local_secret(content, "certbot-dns"), dest=mh.ACME_CREDENTIALS,
            user="root", group="root", mode="600",
        )
    elif not host.get_fact(File, path=mh.ACME_CREDENTIALS):
        raise DeployError(
            f"tls.mode acme: found no ${env_name} in the environment and no "
            f"{mh.ACME_CREDENTIALS} on {host.name}; expected the DNS credential certbot "
            "answers DNS-01 challenges with — export it (see README, 'TLS and ACME') and "
            "deploy again")
    # else: the host keeps the credential it has; nothing to compare it with.

    hook = template(f"certbot deploy hook {mh.ACME_DEPLOY_HOOK}", "certbot/deploy-hook.sh.j2",
                    mh.ACME_DEPLOY_HOOK,
                    {"hook": mh.ACME_DEPLOY_HOOK, "live": mh.ACME_LIVE, "tls_dir": TLS_DIR,
                     "services": ACME_SERVICES}, mode="755")

    names = mh.acme_names(settings)
    command = [
        "certbot", "certonly", "--non-interactive", "--agree-tos", "--quiet",
        "--cert-name", mh.ACME_CERT_NAME, "--server", tls.acme_server,
        *(["--email", tls.acme_email] if tls.acme_email
          else ["--register-unsafely-without-email"]),
        f"--dns-{plugin}", f"--dns-{plugin}-credentials", mh.ACME_CREDENTIALS,
        f"--dns-{plugin}-propagation-seconds", str(tls.acme_propagation_seconds),
        # Reached only when names or server differ from the live certificate: then
        # replace it now, without the interactive "update the names?" question.
        "--force-renewal", "--renew-with-new-domains",
        *[a for n in names for a in ("-d", n)],
    ]
    wanted = _acme_wanted(settings)

    def needs_issuance() -> bool:
        return (host.get_fact(Command, command=_acme_state_command()) or "").strip() != wanted

    if needs_issuance():
        ops.append(server.shell(
            name=f"Obtain the certificate for {', '.join(names)} (ACME DNS-01, certbot)",
            commands=[" ".join(command)],
            _if=needs_issuance,
        ))

    def not_installed() -> bool:
        return (host.get_fact(Command, command=_installed_command()) or "").strip() != "same"

    if not_installed() or ops:
        ops.append(server.shell(
            name=f"Install the ACME certificate in {TLS_DIR}",
            commands=[f"MAILOPS_NO_RELOAD=1 {mh.ACME_DEPLOY_HOOK}"],
            _if=not_installed,
        ))
    systemd.service(name="certbot.timer enabled (renewals twice a day)",
                    service="certbot.timer", running=True, enabled=True)
    del creds_op, hook  # changes to them alone need no reload of any service
    return ops
