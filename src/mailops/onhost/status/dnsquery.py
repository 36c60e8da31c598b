"""A minimal DNS stub resolver (standard library only): A and TXT over UDP.

The status mail asks DNS blocklists through the HOST's resolver — the list
operators answer according to who asks (Spamhaus refuses queries relayed by
public resolvers) — and must tell "no such name" from "the resolver failed",
which ``socket.getaddrinfo`` folds together. So this speaks the protocol itself
(RFC 1035 §4.1): one question, recursion desired, answers read with name
compression (§4.1.4); the servers are the ``nameserver`` lines of
/etc/resolv.conf (resolv.conf(5)), tried in order.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass, field

A, TXT = 1, 16
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
               5: "REFUSED"}


class DnsError(Exception):
    """No usable answer from any server (timeout, SERVFAIL, REFUSED, garbage)."""


@dataclass
class Answer:
    rcode: int
    values: list[str] = field(default_factory=list)  # dotted quads or TXT strings joined


def resolv_conf_servers(path: str = "/etc/resolv.conf") -> list[tuple[str, int]]:
    """The ``nameserver`` lines of resolv.conf; none means the local host (resolv.conf(5))."""
    out = []
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    out.append((parts[1].split("%")[0], 53))
    except OSError:
        pass
    return out or [("127.0.0.1", 53)]


def encode_query(qid: int, name: str, rtype: int) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD set, one question
    labels = b"".join(bytes([len(p)]) + p.encode("ascii")
                      for p in name.rstrip(".").split(".") if p)
    return header + labels + b"\0" + struct.pack("!HH", rtype, 1)


def _skip_name(msg: bytes, pos: int) -> int:
    while True:
        if pos >= len(msg):
            raise DnsError("truncated name in answer")
        length = msg[pos]
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name (RFC 1035 §4.1.4)
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length


def decode_answer(msg: bytes, qid: int, rtype: int) -> Answer:
    if len(msg) < 12:
        raise DnsError("short answer")
    rid, flags, qdcount, ancount = struct.unpack("!HHHH", msg[:8])
    if rid != qid or not flags & 0x8000:
        raise DnsError("answer does not match the query")
    rcode = flags & 0xF
    pos = 12
    for _ in range(qdcount):
        pos = _skip_name(msg, pos) + 4
    values = []
    for _ in range(ancount):
        pos = _skip_name(msg, pos)
        if pos + 10 > len(msg):
            raise DnsError("truncated answer")
        atype, _cls, _ttl, rdlength = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        rdata = msg[pos:pos + rdlength]
        pos += rdlength
        if atype == A == rtype and rdlength == 4:
            values.append(socket.inet_ntoa(rdata))
        elif atype == TXT == rtype:
            strings, i = [], 0
            while i < len(rdata):  # <character-string>s: one length byte each (§3.3.14)
                strings.append(rdata[i + 1:i + 1 + rdata[i]].decode("utf-8", "replace"))
                i += 1 + rdata[i]
            values.append("".join(strings))
    return Answer(rcode, values)


def query(name: str, rtype: int, servers: list[tuple[str, int]] | None = None,
          timeout: float = 3.0, attempts: int = 2) -> Answer:
    """Ask each server in turn; the first NOERROR or NXDOMAIN answer counts.

    SERVFAIL and REFUSED from one server send the question to the next (as the
    system's stub resolver does); only when every server failed is it an error.
    """
    errors = []
    for _ in range(attempts):
        for host, port in servers or resolv_conf_servers():
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            qid = int.from_bytes(os.urandom(2), "big")
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(timeout)
                    sock.sendto(encode_query(qid, name, rtype), (host, port))
                    while True:
                        data, _ = sock.recvfrom(4096)
                        try:
                            answer = decode_answer(data, qid, rtype)
                            break
                        except DnsError:
                            continue  # a stray or forged datagram: keep waiting
            except OSError as exc:
                errors.append(f"{host}:{port}: {exc or type(exc).__name__}")
                continue
            if answer.rcode in (NOERROR, NXDOMAIN):
                return answer
            errors.append(f"{host}:{port}: {RCODE_NAMES.get(answer.rcode, answer.rcode)}")
    raise DnsError("; ".join(dict.fromkeys(errors)) or "no name server")
