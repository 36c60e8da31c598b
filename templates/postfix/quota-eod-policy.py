"""Postfix policy service for the END-OF-MESSAGE stage: is the one recipient over quota?

Installed by mailops (tasks/postfix.py) as /usr/local/lib/mailops/quota-eod-policy.py and
run by spawn(8) (master.cf service "mailops-quota-eod", as an unprivileged user) with
the system python3 -S: standard library only.

Why: a client that does not declare SIZE= passes the RCPT-time quota check with a
mailbox that is almost full; the message would be accepted and then bounced by Dovecot's
LMTP to a sender that may be forged (backscatter). At the end of DATA Postfix knows the
real size and, when the message has exactly one recipient, names it
(SMTPD_POLICY_README, "size" and "recipient" attributes). Dovecot's quota-status service
answers only RCPT-stage queries, so this passes the same question on to it as one, and
hands Dovecot's answer (e.g. "552 5.2.2 Mailbox full") back to Postfix. Anything else
(several recipients, no size, Dovecot unreachable) is DUNNO: the check never refuses
mail it cannot judge, and LMTP's own quota check stays the backstop.

Protocol (SMTPD_POLICY_README): "name=value" lines ending with an empty line; the answer
is "action=..." and an empty line; several requests may come over one connection.
"""

from __future__ import annotations

import socket
import sys


def ask_dovecot(path: str, recipient: str, size: str, timeout: float = 10.0) -> str:
    """Dovecot quota-status's action for one recipient and size ("DUNNO" on failure)."""
    request = (f"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
               f"recipient={recipient}\nsize={size}\n\n")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(request.encode())
            answer = b""
            while not answer.endswith(b"\n\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
    except OSError:
        return "DUNNO"
    for line in answer.decode("utf-8", "replace").splitlines():
        if line.startswith("action="):
            return line.removeprefix("action=")
    return "DUNNO"


def decide(attrs: dict[str, str], dovecot: str) -> str:
    if (attrs.get("protocol_state") == "END-OF-MESSAGE" and attrs.get("recipient")
            and attrs.get("recipient_count") == "1" and attrs.get("size", "0") != "0"):
        return ask_dovecot(dovecot, attrs["recipient"], attrs["size"])
    return "DUNNO"


def main(argv: list[str]) -> int:
    dovecot = argv[0]
    attrs: dict[str, str] = {}
    for raw in sys.stdin:
        line = raw.rstrip("\n")
        if line:
            name, _, value = line.partition("=")
            attrs[name] = value
            continue
        sys.stdout.write(f"action={decide(attrs, dovecot)}\n\n")
        sys.stdout.flush()
        attrs = {}
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
