"""TLS certificate and key for Postfix and Dovecot: /etc/mailops/tls/{fullchain,privkey}.pem.

settings.tls.mode:
- "files": the operator's certificate chain and key (files on the operator machine) are
  uploaded. The key goes through tasks._secret.secret_file: digest-compared, never
  diffed or printed, created 0600 root before any byte is written.
- "self-signed": the host makes its own certificate with openssl, once — only when the
  key or the certificate is missing (fact check), never replacing an existing pair.

Both Postfix and Dovecot read the key as root before dropping privileges, so it stays
root:root 0600. The services reload when anything here changed: see :func:`changes`.
"""

from __future__ import annotations

from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

from mailops.mailhost import TLS_CERT, TLS_DIR, TLS_KEY
from mailops.settings import MailSettings

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

    if tls.mode == "files":
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
        apt.packages(name="Install openssl", packages=["openssl"])
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
