"""Real SMTP and IMAP clients against the lab, and what `remote` received."""

from __future__ import annotations

import email
import email.policy
import imaplib
import smtplib
import socket
import ssl
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype

from mailops.lab import config
from mailops.lab.config import LabState

MX1 = config.machine("mx1").address
MX1_NAME = config.machine("mx1").fqdn
REMOTE = config.machine("remote").address


def tls_context(lab: LabState) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(lab.ca_cert))


# This machine does not resolve lab names, so clients connect to mx1's address
# and verify its certificate for its name, as a client that resolved it would.


def smtp(port: int, lab: LabState | None = None, timeout: float = 30,
         source: str | None = None) -> smtplib.SMTP:
    """A client connected to mx1: implicit TLS on 465 (needs `lab`), plain otherwise.

    ``source``: the local address to connect from (see labtools.client_addresses)."""
    bind = (source, 0) if source else None
    if port == 465:
        s: smtplib.SMTP = smtplib.SMTP_SSL(context=tls_context(lab), timeout=timeout,
                                           source_address=bind)
    else:
        s = smtplib.SMTP(timeout=timeout, source_address=bind)
    s._host = MX1_NAME  # the name STARTTLS / implicit TLS verify
    s.connect(MX1, port)
    return s


class IMAPS(imaplib.IMAP4_SSL):
    """IMAP over implicit TLS to mx1's address, verified for mx1's name."""

    def __init__(self, lab: LabState, timeout: float = 30, source: str | None = None):
        self.source = source
        super().__init__(MX1, 993, ssl_context=tls_context(lab), timeout=timeout)

    def _create_socket(self, timeout):
        sock = socket.create_connection((MX1, 993), timeout,
                                        source_address=(self.source, 0) if self.source
                                        else None)
        return self.ssl_context.wrap_socket(sock, server_hostname=MX1_NAME)


def imap143(timeout: float = 30) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(MX1, 143, timeout=timeout)
    imap.host = MX1_NAME  # what a later STARTTLS verifies
    return imap


def new_message(sender: str, to: str, size: int = 0) -> tuple[EmailMessage, str]:
    token = uuid.uuid4().hex
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = f"lab test {token}"
    msg["Message-ID"] = f"<{token}@lab.test>"
    msg.set_content(f"token {token}\n" + ("x" * 76 + "\n") * (size // 77))
    return msg, token


def submit(lab: LabState, user: str, msg: EmailMessage, port: int = 587,
           sender: str | None = None, to: list[str] | None = None) -> dict:
    """Send as a mail client does: STARTTLS on 587 or implicit TLS on 465, then AUTH."""
    s = smtp(port, lab)
    if port != 465:
        s.starttls(context=tls_context(lab))
    with s:
        s.login(user, lab.password(user))
        return s.send_message(msg, from_addr=sender, to_addrs=to)


def inject_at_remote(msg: EmailMessage, sender: str, to: list[str]) -> None:
    """Hand a message to `remote`, which delivers it to mx1 through DNS like any MTA."""
    with smtplib.SMTP(REMOTE, 25, timeout=30) as s:
        s.send_message(msg, from_addr=sender, to_addrs=to)


def received_at_remote(lab: LabState, token: str, timeout: float = 60) -> email.message.Message:
    """The message carrying `token` from remote's sink Maildir, once it arrives."""
    new = lab.rootfs("remote") / "home/sink/Maildir/new"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(new.glob("*")) if new.exists() else []:
            raw = path.read_bytes()
            if token.encode() in raw:
                return email.message_from_bytes(raw, policy=email.policy.default)
        time.sleep(0.5)
    raise AssertionError(f"no message with token {token} reached remote within {timeout}s")


def imap_fetch(lab: LabState, user: str, token: str, timeout: float = 60,
               mailbox: str | tuple[str, ...] = "INBOX", in_body: bool = False) -> bytes:
    """Log in over IMAPS as `user` and return the raw message carrying `token` in its
    subject (or, with `in_body`, its body) from `mailbox` (or the first of several)."""
    deadline = time.monotonic() + timeout
    while True:
        with IMAPS(lab) as imap:
            imap.login(user, lab.password(user))
            for folder in (mailbox,) if isinstance(mailbox, str) else mailbox:
                imap.select(folder, readonly=True)
                _, ids = (imap.search(None, "BODY", token) if in_body else
                          imap.search(None, "SUBJECT", f'"lab test {token}"'))
                if ids[0]:
                    _, data = imap.fetch(ids[0].split()[-1], "(RFC822)")
                    return data[0][1]
        if time.monotonic() > deadline:
            raise AssertionError(f"{user} has no message {token} in {mailbox} after "
                                 f"{timeout}s")
        time.sleep(0.5)


def lab_dnsfunc(name: bytes | str, timeout: float = 5) -> bytes:
    """dkimpy's DNS hook: ask the lab BIND directly for the TXT record."""
    qname = name.decode() if isinstance(name, bytes) else name
    q = dns.message.make_query(qname, dns.rdatatype.TXT)
    r = dns.query.udp(q, config.GATEWAY, timeout=timeout)
    for rrset in r.answer:
        for rdata in rrset:
            return b"".join(rdata.strings)
    return b""


def remote_maildir(lab: LabState) -> Path:
    return lab.rootfs("remote") / "home/sink/Maildir"
