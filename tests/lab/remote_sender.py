"""`remote` as a sender on the internet: SMTP sessions run ON remote (its own address,
which SPF can authorise), its domain's DKIM key and SPF/DMARC records published in the
lab BIND with RFC 2136, and messages signed by remote.test with dkimpy."""

from __future__ import annotations

import json
import shlex
import textwrap

import dkim
import dns.name
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailops.lab import config
from mailops.lab.config import LabState
from mailops.lab.world import ssh_run

REMOTE = config.machine("remote").address
MX1 = config.machine("mx1").address
SELECTOR = "lab2026"

# Runs on remote with its system Python: one SMTP transaction to mx1, the reply of the
# stage that answered printed as JSON.
_SESSION = textwrap.dedent("""
    import json, smtplib, sys
    raw = sys.stdin.buffer.read()
    sender, rcpts, helo, source = json.loads(sys.argv[1])
    out = {"stage": "data", "code": 250, "text": ""}
    try:
        with smtplib.SMTP("%s", 25, local_hostname=helo, timeout=60,
                          source_address=(source, 0) if source else None) as s:
            s.sendmail(sender, rcpts, raw)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        out = {"stage": "rcpt", "code": code, "text": text.decode()}
    except smtplib.SMTPResponseException as e:
        out = {"stage": "data", "code": e.smtp_code, "text": e.smtp_error.decode()}
    print(json.dumps(out))
""") % MX1


def send_from_remote(raw: bytes, sender: str, rcpts: list[str],
                     helo: str = "mx.remote.test", source: str = "") -> dict:
    """One SMTP transaction from remote's address (or `source`, another address of
    remote's) to mx1:25: {stage, code, text}."""
    args = shlex.quote(json.dumps([sender, rcpts, helo, source]))
    result = on_with_input("remote", f"python3 -c {shlex.quote(_SESSION)} {args}", raw)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def on_with_input(machine: str, command: str, data: bytes):
    """A command on a lab machine with `data` on its stdin."""
    return ssh_run(LabState.load(), machine, command, check=False,
                   input=data.decode("latin-1"))


class RemoteDomain:
    """remote.test's sending identity: a DKIM key, SPF naming remote, DMARC p=reject."""

    def __init__(self, lab: LabState, pem: bytes | None = None):
        self.lab = lab
        key = (serialization.load_pem_private_key(pem, None) if pem else
               rsa.generate_private_key(public_exponent=65537, key_size=2048))
        self.private = key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        import base64
        self.public = base64.b64encode(der).decode()

    def records(self) -> list[tuple[str, str, str]]:
        p = f"v=DKIM1; k=rsa; p={self.public}"
        chunks = " ".join(f'"{p[i:i + 250]}"' for i in range(0, len(p), 250))
        return [(f"{SELECTOR}._domainkey", "TXT", chunks),
                ("@", "TXT", f'"v=spf1 ip4:{REMOTE} -all"'),
                ("_dmarc", "TXT", '"v=DMARC1; p=reject"')]

    def publish(self) -> None:
        update("remote.test", self.lab, self.records())

    def withdraw(self) -> None:
        """Back to the lab's remote.test: other tests send as it from other addresses."""
        update("remote.test", self.lab, self.records(), delete=True)

    def sign(self, raw: bytes) -> bytes:
        sig = dkim.sign(raw, SELECTOR.encode(), b"remote.test", self.private,
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        return sig + raw


def update(zone: str, lab: LabState, records: list[tuple[str, str, str]],
           delete: bool = False) -> None:
    name, algorithm, secret = lab.tsig
    keyring = dns.tsigkeyring.from_text({name: (algorithm, secret)})
    up = dns.update.UpdateMessage(zone, keyring=keyring, keyname=dns.name.from_text(name))
    for owner, rtype, value in records:
        if delete:
            up.delete(owner, rtype)
        else:
            up.replace(owner, 60, rtype, value)
    r = dns.query.tcp(up, config.GATEWAY, timeout=10)
    assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
