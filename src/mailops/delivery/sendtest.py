"""``mailops send-test``: send a test message through a mail host and report its fate.

:func:`send_test` submits a small message through the host's own submission path
(sendmail(1) on the host, over the host's pyinfra connector: no mailbox password),
then watches the delivery log (mailops.delivery.fetch) until every recipient row of
that Message-ID reached a final state or ``timeout`` passed. When the recipient's
mailbox can be read — a mailbox hosted on an inventory host (read through its
connector), or the lab's ``remote`` sink — it also returns the message's received
``Authentication-Results`` (RFC 8601) and ``Received-SPF`` (RFC 7208 §9.1) header
fields; only the header block of that one message is read, never a body.

The returned dict:

- ``host``: the inventory host that sent it; ``sender``, ``recipient``,
  ``message_id``, ``queue_id`` (None when the log never saw it);
- ``state``: the outcome — ``delivered`` (a mailbox of an inventory host), ``sent``
  (the receiving server accepted it), ``deferred`` (still retrying at the timeout),
  ``bounced``, ``rejected``, ``discarded``, or ``queued`` / ``unknown`` (nothing
  final within the timeout);
- ``delivered``: True for ``delivered`` and ``sent``; ``timed_out``: no final state;
- ``reply``: the receiving side's last reply (the deferral reason when deferred),
  ``dsn``, ``relay``, ``folder`` (delivered: INBOX, Junk…), ``attempts``,
  ``dkim_selector``/``dkim_domain`` (the key that signed it), ``elapsed`` (seconds);
- ``rows``: every delivery-log row of the message (alias expansion: several);
- ``mailbox``: where the headers were read (``"<host>:<path>"``, ``"lab remote"``) or
  None when the mailbox is not readable by mailops; ``authentication_results`` and
  ``received_spf``: lists of header values (None when not read).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import formatdate
from typing import TYPE_CHECKING, Any

from ..onhost.status.report import SENDMAIL
from . import fetch

if TYPE_CHECKING:
    from ..inventory import InventoryHost

FINAL = ("delivered", "sent", "bounced", "rejected", "discarded")
POLL = 2.0  # seconds between looks at the delivery log


class SendTestError(RuntimeError):
    """The test message could not be submitted; the message says where and why."""


def _pick(inv: Iterable[InventoryHost], sender: str | None
          ) -> tuple[InventoryHost, str]:
    hosts = list(inv)
    if not hosts:
        raise SendTestError("the inventory has no mail host")
    if sender is None:
        host = hosts[0]
        return host, f"postmaster@{host.settings.domains[0].name}"
    domain = sender.rpartition("@")[2].lower()
    for host in hosts:
        if domain in {d.name.lower() for d in host.settings.domains}:
            return host, sender
    served = ", ".join(sorted({d.name for h in hosts for d in h.settings.domains}))
    raise SendTestError(f"--from: found {sender!r}, whose domain no host of the inventory "
                        f"serves; expected an address of a hosted domain ({served}), so the "
                        "message is signed and its bounces come back")


def _message(host: InventoryHost, sender: str, address: str) -> tuple[bytes, str]:
    token = uuid.uuid4().hex
    message_id = f"<mailops-test.{token}@{host.settings.hostname.lower()}>"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = address
    msg["Subject"] = f"mailops send-test {token[:12]}"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id
    msg.set_content("A test message from `mailops send-test`: it checks that mail from "
                    f"{host.settings.hostname} reaches this address.\nNo reply needed.\n")
    return msg.as_bytes(policy=default_policy), message_id


def submit(host: InventoryHost, sender: str, address: str, raw: bytes) -> None:
    """Hand ``raw`` to sendmail(1) on the host: the envelope is ``sender`` -> ``address``
    (``-i``: a lone dot does not end the message; ``--``: the address is no option)."""
    from ..hosts import connect

    script = f'printf %s "$1" | {SENDMAIL} -i -f "$2" -- "$3"'
    try:
        connect.run(host, ["sh", "-c", script, "sh", raw.decode("ascii"), sender, address])
    except connect.HostError as e:
        raise SendTestError(str(e)) from None


def _outcome(rows: list[dict]) -> tuple[str, dict | None]:
    """The message's state over its rows: the worst final one, else what is pending."""
    if not rows:
        return "unknown", None
    pending = [r for r in rows if r["state"] not in FINAL]
    if pending:
        deferred = [r for r in pending if r["state"] == "deferred"]
        row = (deferred or pending)[0]
        return row["state"], row
    for state in ("bounced", "rejected", "discarded", "sent", "delivered"):
        for r in rows:
            if r["state"] == state:
                return state, r
    return rows[0]["state"], rows[0]


def send_test(inv: Iterable[InventoryHost], address: str, sender: str | None = None,
              timeout: float = 120, on_progress: Callable[[str], Any] | None = None,
              ) -> dict:
    """Send a test message to ``address`` and wait up to ``timeout`` s for its outcome."""
    hosts = list(inv)
    say = on_progress or (lambda _text: None)
    host, sender = _pick(hosts, sender)
    raw, message_id = _message(host, sender, address)
    started = time.monotonic()
    say(f"submitting {message_id} on {host.name} ({sender} -> {address})")
    submit(host, sender, address, raw)
    rows: list[dict] = []
    state, row = "unknown", None
    while True:
        rows = fetch.messages(hosts, message_id=message_id, limit=50)
        state, row = _outcome(rows)
        if state in FINAL:
            break
        waited = time.monotonic() - started
        detail = f": {row['reply']}" if row and row.get("reply") else ""
        what = "not in the delivery log yet" if state == "unknown" else state
        say(f"{what}{detail} ({waited:.0f}s of {timeout:g}s)")
        if waited >= timeout:
            break
        time.sleep(min(POLL, max(0.1, timeout - waited)))
    result = {
        "host": host.name, "sender": sender, "recipient": address,
        "message_id": message_id, "queue_id": row["queue_id"] if row else None,
        "state": state, "delivered": state in ("delivered", "sent"),
        "timed_out": state not in FINAL,
        "reply": row["reply"] if row else None, "dsn": row["dsn"] if row else None,
        "relay": row["relay"] if row else None, "folder": row["folder"] if row else None,
        "attempts": row["attempts"] if row else 0,
        "dkim_selector": next((r["dkim_selector"] for r in rows if r["dkim_selector"]), None),
        "dkim_domain": next((r["dkim_domain"] for r in rows if r["dkim_domain"]), None),
        "elapsed": round(time.monotonic() - started, 1), "rows": rows,
        "mailbox": None, "authentication_results": None, "received_spf": None,
    }
    if result["delivered"]:
        say(f"{state}; reading the received header fields")
        result.update(received_headers(hosts, address, message_id))
    return result


# --------------------------------------------------------------------------- headers


HEADERS_WAIT = 15.0  # seconds: the receiver files the message just after it accepted it


def received_headers(hosts: list[InventoryHost], address: str, message_id: str) -> dict:
    """Authentication-Results and Received-SPF of the delivered message, where readable."""
    deadline = time.monotonic() + HEADERS_WAIT
    while True:
        found = _hosted_headers(hosts, address, message_id) or _lab_remote_headers(
            address, message_id)
        if found is not None or time.monotonic() > deadline or not _readable(hosts, address):
            break
        time.sleep(1)
    if found is None:
        return {}
    where, raw = found
    headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
    return {"mailbox": where,
            "authentication_results": [str(v) for v in
                                       headers.get_all("Authentication-Results") or []],
            "received_spf": [str(v) for v in headers.get_all("Received-SPF") or []]}


def _mailbox_of(host: InventoryHost, address: str) -> str | None:
    """The hosted mailbox ``address`` delivers to (itself, an alias target, the
    catch-all; RFC 5233 ``+tag`` removed), or None."""
    local, _, domain = address.lower().rpartition("@")
    address = f"{local.partition('+')[0]}@{domain}"
    boxes = {m.address.lower() for m in host.settings.mailboxes}
    if address in boxes:
        return address
    for alias, targets in (a for d in host.settings.domains for a in d.aliases):
        if alias.lower() == address:
            return next((t.lower() for t in targets if t.lower() in boxes), None)
    for d in host.settings.domains:
        if d.name.lower() == domain and d.catch_all and d.catch_all.lower() in boxes:
            return d.catch_all.lower()
    return None


def _readable(hosts: list[InventoryHost], address: str) -> bool:
    return (any(_mailbox_of(h, address) for h in hosts)
            or _lab_remote_maildir(address) is not None)


def _hosted_headers(hosts: list[InventoryHost], address: str, message_id: str
                    ) -> tuple[str, bytes] | None:
    from ..hosts import connect
    from ..services.dovecot import VMAIL_HOME

    for host in hosts:
        box = _mailbox_of(host, address)
        if box is None:
            continue
        user, _, domain = box.partition("@")
        maildir = f"{VMAIL_HOME}/{domain}/{user}/Maildir"
        # The header block only (up to the first empty line) of the one file that
        # carries this Message-ID, in INBOX or Junk (Maildir++ ".Junk").
        script = ('f=$(grep -lsF -- "$1" "$2"/new/* "$2"/cur/* "$2"/.Junk/new/* '
                  '"$2"/.Junk/cur/* 2>/dev/null | head -n 1); '
                  '[ -n "$f" ] && sed "/^\\r\\?$/q" "$f"')
        try:
            out = connect.run(host, ["sh", "-c", script, "sh", message_id, maildir],
                              check=False)
        except connect.HostError:
            return None
        if out.ok and out.stdout.strip():
            return f"{host.name}:{maildir}", out.stdout.encode()
        return None
    return None


def _lab_remote_maildir(address: str):
    """The lab's ``remote`` keeps every message for remote.test in one sink Maildir,
    readable from this machine while that lab is up; None otherwise."""
    try:
        from ..lab import config

        lab = config.LabState.load()
    except Exception:  # noqa: BLE001 - no lab on this machine: not readable
        return None
    remote_domain = config.machine("remote").fqdn.partition(".")[2]
    maildir = lab.rootfs("remote") / "home/sink/Maildir"
    if address.lower().rpartition("@")[2] != remote_domain or not maildir.is_dir():
        return None
    return maildir


def _lab_remote_headers(address: str, message_id: str) -> tuple[str, bytes] | None:
    maildir = _lab_remote_maildir(address)
    if maildir is None:
        return None
    needle = message_id.encode()
    for folder in ("new", "cur"):
        for path in sorted((maildir / folder).glob("*"), reverse=True):
            try:
                raw = path.read_bytes()
            except OSError:
                continue
            head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
            if needle in head:
                return "lab remote", head + b"\n\n"
    return None
