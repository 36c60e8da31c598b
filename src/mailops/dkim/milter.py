"""A minimal milter client (Sendmail milter protocol v6): ask OpenDKIM to sign a probe.

Runs ON the mail host with the system ``python3`` — standard library only, no
mailops imports — fed on stdin by :mod:`mailops.dkim.probe` over SSH
(``python3 - <socket> <domain>``). It plays the part Postfix plays for every
submitted message: connect to OpenDKIM's socket, negotiate, send the SMTP
stages and the headers and body of one probe message, and collect the header
changes OpenDKIM asks for at end of message. It prints one JSON object:

    {"message": "<the probe message, CRLF>", "final": "c",
     "added": [{"action": "i", "index": 0, "name": "DKIM-Signature", "value": "..."}],
     "reply": ""}

Nothing is sent anywhere: OpenDKIM only computes a signature and hands it back.
No key material passes through here, only the signature header.

The protocol, as libmilter (OpenDKIM's milter library) and Postfix's milter8.c
speak it: every packet is a 4-byte big-endian length (command byte included),
one command byte, then the data; strings are NUL-terminated.
"""

from __future__ import annotations

import email.utils
import json
import socket
import struct
import sys
import uuid

# --------------------------------------------------------------------------- protocol constants
# From libmilter's mfapi.h / mfdef.h (protocol version 6).

MILTER_VERSION = 6

# Commands the MTA sends (SMFIC_*).
OPTNEG, MACRO, CONNECT, HELO, MAIL, RCPT = b"O", b"D", b"C", b"H", b"M", b"R"
HEADER, EOH, BODY, BODYEOB, QUIT, ABORT = b"L", b"N", b"B", b"E", b"Q", b"A"

# Replies the milter sends (SMFIR_*). Final answers end a stage; the rest are
# modification requests that arrive before the final answer to end-of-body.
ACCEPT, CONTINUE, DISCARD, REJECT, TEMPFAIL, REPLYCODE, SKIP = (
    b"a", b"c", b"d", b"r", b"t", b"y", b"s")
FINAL = {ACCEPT, CONTINUE, DISCARD, REJECT, TEMPFAIL, REPLYCODE, SKIP}
ANSWER_NAMES = {ACCEPT: "accept", CONTINUE: "continue", DISCARD: "discard", REJECT: "reject",
                TEMPFAIL: "tempfail", REPLYCODE: "a reply code", SKIP: "skip"}
ADDHEADER, INSHEADER, CHGHEADER, PROGRESS = b"h", b"i", b"m", b"p"

# Actions we allow the milter (SMFIF_*): all of them, as Postfix does; we apply none,
# we only record the header additions.
ACTIONS = 0x1FF

# Protocol flags (SMFIP_*): "don't send stage X" and "no reply to stage X" bits.
NOCONNECT, NOHELO, NOMAIL, NORCPT, NOBODY, NOHDRS, NOEOH = (
    0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40)
NR_HDR, NOUNKNOWN, NODATA, SKIP_OK, RCPT_REJ = 0x80, 0x100, 0x200, 0x400, 0x800
NR_CONN, NR_HELO, NR_MAIL, NR_RCPT, NR_DATA, NR_UNKN, NR_EOH, NR_BODY = (
    0x1000, 0x2000, 0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000)
# Offered: every skip/no-reply bit, so the milter may pick what it wants (as Postfix
# offers). Not offered: HDR_LEADSPC (0x100000, header values with their leading
# space) — we send values without it, as Postfix does by default.
OFFERED = 0xFFFFF

# Which "don't send" and "no reply" bit belongs to which command.
SKIP_BIT = {CONNECT: NOCONNECT, HELO: NOHELO, MAIL: NOMAIL, RCPT: NORCPT, HEADER: NOHDRS,
            EOH: NOEOH, BODY: NOBODY}
NO_REPLY_BIT = {CONNECT: NR_CONN, HELO: NR_HELO, MAIL: NR_MAIL, RCPT: NR_RCPT,
                HEADER: NR_HDR, EOH: NR_EOH, BODY: NR_BODY}

# Body chunks: libmilter's default maximum data size is 64 KiB (MILTER_CHUNK_SIZE).
CHUNK = 65535


class MilterError(RuntimeError):
    """The milter did not speak the protocol we expect, or refused the probe."""


# --------------------------------------------------------------------------- framing


def packet(command: bytes, data: bytes = b"") -> bytes:
    """One milter packet: uint32 length (command + data), command byte, data."""
    return struct.pack("!I", len(command) + len(data)) + command + data


def cstrings(*items: str) -> bytes:
    """NUL-terminated strings, as the protocol carries them."""
    return b"".join(i.encode("utf-8", "surrogateescape") + b"\0" for i in items)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise MilterError(f"the milter closed the connection after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_packet(sock: socket.socket) -> tuple[bytes, bytes]:
    (length,) = struct.unpack("!I", _read_exact(sock, 4))
    if not 1 <= length <= 1 << 24:
        raise MilterError(f"the milter sent a packet of length {length}; expected 1..16M")
    data = _read_exact(sock, length)
    return data[:1], data[1:]


def split_cstrings(data: bytes) -> list[str]:
    parts = data.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return [p.decode("utf-8", "replace") for p in parts]


# --------------------------------------------------------------------------- the probe


def probe_message(domain: str, token: str | None = None) -> tuple[list[tuple[str, str]], bytes]:
    """The probe's headers and body: From: probe@<domain>, nothing that needs folding."""
    token = token or uuid.uuid4().hex
    headers = [
        ("From", f"mailops probe <probe@{domain}>"),
        ("To", f"postmaster@{domain}"),
        ("Subject", f"mailops DKIM signing probe {token}"),
        ("Date", email.utils.formatdate(localtime=False)),
        ("Message-ID", f"<{token}.probe@{domain}>"),
    ]
    # RFC 5322 §2.3: CRLF line endings; Postfix hands body chunks to milters with CRLF.
    body = (f"This message was signed by OpenDKIM for a mailops probe ({token}).\r\n"
            "It was never sent.\r\n").encode()
    return headers, body


def render_message(headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = b"".join(f"{n}: {v}\r\n".encode() for n, v in headers)
    return head + b"\r\n" + body


class MilterSession:
    """One MTA-side milter conversation over a connected stream socket."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.protocol = 0  # the flags the milter chose at OPTNEG
        self.actions = 0
        self.last_reply = b""  # the text of the last final answer (REPLYCODE: "550 ...")

    def send(self, command: bytes, data: bytes = b"") -> None:
        self.sock.sendall(packet(command, data))

    def negotiate(self) -> None:
        """SMFIC_OPTNEG: version, actions, protocol flags; the milter answers in kind."""
        self.send(OPTNEG, struct.pack("!III", MILTER_VERSION, ACTIONS, OFFERED))
        cmd, data = read_packet(self.sock)
        if cmd != OPTNEG or len(data) < 12:
            raise MilterError(f"expected an OPTNEG answer, got command {cmd!r} ({len(data)} "
                              "bytes)")
        version, self.actions, self.protocol = struct.unpack("!III", data[:12])
        if version < 2:
            raise MilterError(f"the milter speaks protocol version {version}; expected 2..6")
        if self.protocol & ~OFFERED:
            raise MilterError(f"the milter asked for protocol flags {self.protocol:#x}, more "
                              f"than the {OFFERED:#x} offered")

    def macros(self, stage: bytes, values: dict[str, str]) -> None:
        """SMFIC_MACRO for the next command: no reply is ever sent to it."""
        data = stage + b"".join(cstrings(k, v) for k, v in values.items())
        self.send(MACRO, data)

    def stage(self, command: bytes, data: bytes = b"") -> bytes:
        """Send one stage unless the milter opted out; return its answer (CONTINUE if none)."""
        if self.protocol & SKIP_BIT.get(command, 0):
            return CONTINUE
        self.send(command, data)
        if self.protocol & NO_REPLY_BIT.get(command, 0):
            return CONTINUE
        return self._final(command)[0]

    def _final(self, command: bytes) -> tuple[bytes, bytes, list[dict]]:
        """Read until a final answer; collect the modification requests on the way."""
        changes: list[dict] = []
        while True:
            cmd, data = read_packet(self.sock)
            if cmd == PROGRESS:
                continue
            if cmd in (ADDHEADER, INSHEADER, CHGHEADER):
                index = 0
                if cmd != ADDHEADER:
                    (index,) = struct.unpack("!I", data[:4])
                    data = data[4:]
                name, value = (split_cstrings(data) + ["", ""])[:2]
                changes.append({"action": cmd.decode(), "index": index, "name": name,
                                "value": value})
                continue
            if cmd in FINAL:
                self.last_reply = data.rstrip(b"\0")
                return cmd, data, changes
            # Other modifications (recipients, body, quarantine): irrelevant to signing.
            changes.append({"action": cmd.decode(), "index": 0, "name": "", "value": ""})

    def end_of_message(self) -> tuple[bytes, bytes, list[dict]]:
        self.send(BODYEOB)
        return self._final(BODYEOB)


def run_probe(socket_path: str, domain: str, *, hostname: str = "localhost",
              timeout: float = 20.0, token: str | None = None) -> dict:
    """Have the milter at ``socket_path`` process one probe message from probe@<domain>.

    Returns the message and the headers the milter added. Raises MilterError if
    the milter refused a stage (the answer code and text are in the message).
    """
    headers, body = probe_message(domain, token)
    sender, rcpt = f"probe@{domain}", f"postmaster@{domain}"
    qid = "MAILOPSPROBE"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(socket_path)
    except OSError as e:
        raise MilterError(f"cannot connect to the milter socket {socket_path}: {e}") from None
    s = MilterSession(sock)
    result = {"message": render_message(headers, body).decode("utf-8", "surrogateescape"),
              "added": [], "final": "", "reply": "", "protocol": 0}
    try:
        s.negotiate()
        result["protocol"] = s.protocol

        def expect_continue(what: str, answer: bytes) -> None:
            if answer != CONTINUE:
                text = s.last_reply.decode("utf-8", "replace")
                raise MilterError(
                    f"the milter answered {ANSWER_NAMES.get(answer, repr(answer))}"
                    + (f" ({text})" if text else "") + f" to {what}; expected continue")

        # Postfix's submission service sets {daemon_name}=ORIGINATING (master.cf
        # -o milter_macro_daemon_name=ORIGINATING), which OpenDKIM's MacroList turns
        # into "sign this"; a connection from 127.0.0.1 is an InternalHost as well.
        s.macros(CONNECT, {"j": hostname, "{daemon_name}": "ORIGINATING",
                           "_": "localhost [127.0.0.1]", "{client_addr}": "127.0.0.1"})
        # CONNECT data: hostname, family '4', port (uint16), address.
        expect_continue("CONNECT", s.stage(
            CONNECT, cstrings("localhost") + b"4" + struct.pack("!H", 0) + cstrings("127.0.0.1")))
        expect_continue("HELO", s.stage(HELO, cstrings("localhost")))
        # An authenticated submission, as Postfix reports it after SASL AUTH.
        s.macros(MAIL, {"{auth_authen}": sender, "{auth_type}": "PLAIN",
                        "{mail_addr}": sender, "i": qid})
        expect_continue("MAIL FROM", s.stage(MAIL, cstrings(f"<{sender}>")))
        s.macros(RCPT, {"{rcpt_addr}": rcpt})
        expect_continue("RCPT TO", s.stage(RCPT, cstrings(f"<{rcpt}>")))
        for name, value in headers:
            s.macros(HEADER, {"i": qid})
            expect_continue(f"header {name}", s.stage(HEADER, cstrings(name, value)))
        s.macros(EOH, {"i": qid})
        expect_continue("end of headers", s.stage(EOH))
        for i in range(0, len(body), CHUNK):
            answer = s.stage(BODY, body[i:i + CHUNK])
            if answer == SKIP:  # the milter has seen enough body (SMFIP_SKIP)
                break
            expect_continue("body", answer)
        s.macros(BODYEOB, {"i": qid})
        final, reply, changes = s.end_of_message()
        result["final"] = final.decode()
        result["reply"] = reply.rstrip(b"\0").decode("utf-8", "replace")
        result["added"] = changes
        s.send(QUIT)
    finally:
        sock.close()
    return result


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print("usage: python3 - SOCKET DOMAIN [HOSTNAME] < milter.py", file=sys.stderr)
        return 2
    socket_path, domain = argv[0], argv[1]
    hostname = argv[2] if len(argv) == 3 else socket.getfqdn()
    try:
        result = run_probe(socket_path, domain, hostname=hostname)
    except (MilterError, OSError) as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
