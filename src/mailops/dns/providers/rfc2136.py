"""RFC 2136 dynamic update with TSIG (RFC 8945): BIND, Knot, PowerDNS…

Reading: a TSIG-signed AXFR (RFC 5936) of the zone from the primary, because it
is the only way to see *every* DKIM selector under ``_domainkey`` — a stale
selector mailops must retire, or a foreign one it must leave alone, has no
name mailops could guess. Knot and PowerDNS refuse transfers by default and
many BIND setups do too, so a refused transfer is normal: mailops then asks
the primary for each name it manages (TSIG-signed queries, one TCP
connection), and the plan carries one note saying so (stale selectors
mailops never published are then invisible, which errs on the side of
deleting nothing).

Writing: all changes of a zone go in ONE signed UPDATE message, which the
server applies atomically (RFC 2136 §3.4: all or nothing).

Credentials: the environment variable named by ``dns.tsig_env`` holds
``<key name>:<algorithm>:<base64 secret>``; the secret is never printed.
"""

from __future__ import annotations

import base64
import binascii
import socket
from collections.abc import Collection, Sequence

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update
import dns.xfr
import dns.zone

from ..records import canonical
from . import rfc2136_advice as advice
from .base import Provider, ProviderError, RRset, join_txt, split_txt

TYPES = ("A", "AAAA", "CNAME", "MX", "TXT")
TIMEOUT = 10.0
# RFC 8945 §6: the HMAC algorithms (hmac-md5 is obsolete and not accepted here).
ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")
TSIG_FORM = "'<key name>:<algorithm>:<base64 secret>' (e.g. 'mailops:hmac-sha256:c2VjcmV0...')"


def parse_tsig(value: str, var: str, domain: str) -> tuple[dict, dns.name.Name, dns.name.Name]:
    """``name:algorithm:secret`` -> (keyring, key name, algorithm); the secret never in errors."""
    parts = value.split(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ProviderError(domain, f"the environment variable {var} does not have the form "
                            "name:algorithm:secret", f"set it to {TSIG_FORM}")
    name, algorithm, secret = parts
    try:
        base64.b64decode(secret, validate=True)
        if algorithm.lower() not in ALGORITHMS:
            raise ValueError
        keyring = dns.tsigkeyring.from_text({name: (algorithm.lower(), secret)})
    except (binascii.Error, ValueError, dns.exception.DNSException):
        raise ProviderError(domain, f"the environment variable {var} holds a TSIG key that "
                            f"cannot be used (algorithm must be one of {', '.join(ALGORITHMS)} "
                            "and the secret base64)", f"set it to {TSIG_FORM}") from None
    return keyring, dns.name.from_text(name), dns.name.from_text(algorithm.lower())



def _canonical_rdata(rd) -> str:
    t = dns.rdatatype.to_text(rd.rdtype)
    if t == "TXT":
        return join_txt(rd.strings)
    if t == "MX":
        return canonical("MX", f"{rd.preference} {rd.exchange.to_text()}")
    return canonical(t, rd.to_text())


class Rfc2136Provider(Provider):
    kind = "rfc2136"

    def __init__(self, config, domain, env=None):
        super().__init__(config, domain, env)
        self.server = config.server
        self.port = config.port
        self.origin = dns.name.from_text(self.zone)
        # Live rdata as read, so a deletion names the exact record the server
        # holds (same string split), not our re-encoding of its text.
        self._rdata: dict[tuple[str, str, str], list] = {}
        self._tsig = None

    # ------------------------------------------------------------------ credentials

    def _key(self):
        if self._tsig is None:
            var = self.config.tsig_env
            self._tsig = parse_tsig(self.credential(var, TSIG_FORM), var, self.domain)
        return self._tsig

    def _where(self) -> str:
        return f"{self.server} port {self.port}"

    def _fail(self, e: BaseException, doing: str) -> ProviderError:
        keyname = self._key()[1].to_text(omit_final_dot=True)
        var = self.config.tsig_env
        if isinstance(e, dns.exception.Timeout):
            return ProviderError(self.domain, f"the name server {self._where()} did not answer "
                                 f"while {doing} (timed out after {TIMEOUT:.0f}s)",
                                 "check dns.server and dns.port in the inventory and that the "
                                 "server is running and reachable")
        if isinstance(e, dns.tsig.PeerBadKey) and doing.startswith("updating"):
            # The reads signed with this key were accepted, so the key is known:
            # Knot answers BADKEY when its ACL does not allow the key to update.
            return ProviderError(self.domain, f"the name server {self._where()} answered "
                                 f"NOTAUTH with TSIG error BADKEY while {doing}: Knot says this "
                                 "when no acl lets the key update the zone, other servers when "
                                 "they do not know the key",
                                 advice.allow_update(keyname, self.zone)
                                 + f"; and check that {var} holds the server's key")
        if isinstance(e, (dns.tsig.PeerError, dns.tsig.BadSignature, dns.tsig.BadKey)):
            return ProviderError(self.domain, f"the name server {self._where()} rejected TSIG key "
                                 f"{keyname!r} while {doing} ({type(e).__name__})",
                                 f"check that {var} holds the same key name, algorithm and "
                                 "secret as the server's key statement")
        if isinstance(e, OSError):
            return ProviderError(self.domain, f"could not reach the name server {self._where()} "
                                 f"while {doing} ({e.strerror or e})",
                                 "check dns.server and dns.port in the inventory")
        return ProviderError(self.domain, f"{doing} at {self._where()} failed: {e}",
                             "check the server's log for the zone " + self.zone)

    def _rcode_error(self, response: dns.message.Message, doing: str) -> ProviderError:
        keyname = self._key()[1].to_text(omit_final_dot=True)
        text = dns.rcode.to_text(response.rcode())
        # RFC 8914: a server may say more in an Extended DNS Error; pass it on.
        ede = "; ".join(f"{o.code}: {o.text}" if o.text else str(o.code)
                        for o in response.extended_errors())
        said = f" ({ede})" if ede else ""
        meaning = advice.MEANING.get(text, "see the server's log")
        return ProviderError(self.domain, f"the name server {self._where()} answered {text}"
                             f"{said} while {doing}: {meaning}",
                             advice.todo(text, keyname, self.zone, self.config.tsig_env))

    # ------------------------------------------------------------------ read

    def read(self, names: Collection[str], subtrees: Collection[str] = ()) -> list[RRset]:
        names = {n.lower().rstrip(".") for n in names}
        subtrees = {s.lower().rstrip(".") for s in subtrees}
        self._rdata = {}
        self.notes = []
        try:
            nodes = self._axfr()
        except _TransferRefused as refused:
            nodes = self._per_name(names)
            keyname = self._key()[1].to_text(omit_final_dot=True)
            self.notes.append(
                f"{self._where()} refused a zone transfer of {self.zone} ({refused.rcode}), so "
                f"mailops read its {len(names)} managed names one by one; DKIM selectors it "
                "never published are not seen this way (so none is deleted). "
                + advice.allow_transfer(keyname, self.zone))
        out = []
        for owner, rdatasets in nodes:
            if owner not in names and not any(owner.endswith("." + s) for s in subtrees):
                continue
            for rds in rdatasets:
                t = dns.rdatatype.to_text(rds.rdtype)
                if t not in TYPES:
                    continue
                values = []
                for rd in rds:
                    v = _canonical_rdata(rd)
                    values.append(v)
                    self._rdata.setdefault((owner, t, v), []).append(rd)
                out.append(RRset(owner, t, rds.ttl, tuple(sorted(set(values)))))
        return out

    def _axfr(self) -> list[tuple[str, list]]:
        keyring, keyname, alg = self._key()
        zone = dns.zone.Zone(self.origin, relativize=False)
        query, _ = dns.xfr.make_query(zone, keyring=keyring, keyname=keyname, keyalgorithm=alg)
        try:
            dns.query.inbound_xfr(self.server, zone, query, port=self.port, timeout=TIMEOUT,
                                  lifetime=TIMEOUT * 3)
        except dns.xfr.TransferError as e:
            # A correctly signed answer refusing the transfer: BIND says REFUSED,
            # Knot and PowerDNS NOTAUTH (a bad key fails the TSIG check above instead).
            if e.rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH, dns.rcode.NOTIMP):
                raise _TransferRefused(dns.rcode.to_text(e.rcode)) from None
            raise ProviderError(self.domain, f"the name server {self._where()} answered "
                                f"{dns.rcode.to_text(e.rcode)} to a zone transfer of "
                                f"{self.zone}: {advice.MEANING.get(dns.rcode.to_text(e.rcode))}",
                                advice.todo(dns.rcode.to_text(e.rcode),
                                            keyname.to_text(omit_final_dot=True), self.zone,
                                            self.config.tsig_env)) from None
        except dns.tsig.PeerBadKey:
            # Knot answers a transfer its ACL does not allow with TSIG error
            # BADKEY even for a key it knows; the signed per-name queries that
            # follow tell a really unknown key apart (they fail the same way).
            raise _TransferRefused("NOTAUTH, TSIG error BADKEY") from None
        except (dns.exception.DNSException, OSError) as e:
            raise self._fail(e, f"reading zone {self.zone} (AXFR)") from None
        return [(name.to_text(omit_final_dot=True).lower(), list(node.rdatasets))
                for name, node in zone.nodes.items()]

    def _per_name(self, names) -> list[tuple[str, list]]:
        keyring, keyname, alg = self._key()
        out = []
        try:
            with socket.create_connection((self.server, self.port), timeout=TIMEOUT) as sock:
                for owner in sorted(names):
                    want = dns.name.from_text(owner)
                    rdatasets = []
                    for t in TYPES:
                        # Signed like the transfer, so a wrong key shows at plan time
                        # (RFC 8945 §5.2: the server checks the MAC of any request).
                        q = dns.message.make_query(owner, t)
                        q.use_tsig(keyring, keyname, algorithm=alg)
                        r = dns.query.tcp(q, self.server, timeout=TIMEOUT, sock=sock)
                        if r.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                            raise self._rcode_error(r, f"reading {owner} {t}")
                        rdatasets += [rrset.to_rdataset() for rrset in r.answer
                                      if rrset.name == want and
                                      dns.rdatatype.to_text(rrset.rdtype) == t]
                    out.append((owner, rdatasets))
        except (dns.exception.DNSException, OSError) as e:
            raise self._fail(e, "reading the managed names") from None
        return out

    # ------------------------------------------------------------------ write

    @staticmethod
    def _rdata_for(rdtype: str, value: str):
        if rdtype == "TXT":
            # One record, several character-strings (RFC 1035 §3.3.14), never two records.
            from dns.rdtypes.ANY.TXT import TXT
            return TXT(dns.rdataclass.IN, dns.rdatatype.TXT, split_txt(value))
        text = value + "." if rdtype in ("CNAME",) else value
        if rdtype == "MX":
            pref, host = value.split(" ", 1)
            text = f"{pref} {host}."
        return dns.rdata.from_text(dns.rdataclass.IN, rdtype, text)

    def apply(self, changes: Sequence) -> None:
        if not changes:
            return
        keyring, keyname, alg = self._key()
        if not self._rdata:
            self.read({c.key.name for c in changes},
                      {c.key.name for c in changes if "._domainkey." in c.key.name})
        u = dns.update.UpdateMessage(self.origin, keyring=keyring, keyname=keyname,
                                     keyalgorithm=alg)
        for c in changes:
            name = dns.name.from_text(c.key.name)
            rdtype = c.key.type
            if not c.key.match:
                # The whole RRset is mailops's: replace it (delete RRset + add, §2.5.2/§2.5.1).
                if c.after:
                    u.replace(name, c.ttl_after, *[self._rdata_for(rdtype, v) for v in c.after])
                else:
                    u.delete(name, rdtype)
                continue
            # Shared name (apex TXT…): delete only the exact records we own
            # (RFC 2136 §2.5.4), then add ours; other TXT at the name stay.
            for v in c.before:
                for rd in self._rdata.get((c.key.name, rdtype, v), [self._rdata_for(rdtype, v)]):
                    u.delete(name, rd)
            for v in c.after:
                u.add(name, c.ttl_after, self._rdata_for(rdtype, v))
        try:
            r = dns.query.tcp(u, self.server, port=self.port, timeout=TIMEOUT)
        except (dns.exception.DNSException, OSError) as e:
            raise self._fail(e, f"updating zone {self.zone}") from None
        if r.rcode() != dns.rcode.NOERROR:
            raise self._rcode_error(r, f"updating zone {self.zone}")
        self._rdata = {}


class _TransferRefused(Exception):
    def __init__(self, rcode: str):
        super().__init__(rcode)
        self.rcode = rcode
