"""The record half of the Cloudflare API stand-in: validation, storage, batch, mirror.

Mixed into the stand-in's server (cloudflare_server.py), which holds
``self.zones`` and ``self.records[zone id][record id]``. The rules are
Cloudflare's documented ones: a CNAME never shares its name (81053/81054),
no duplicate record (81058), TTL 1 (automatic) or 60..86400 (9021), an MX
needs a priority (9101), a record Email Routing manages cannot be changed
(1004); TXT content is stored exactly as given.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

EMAIL_ROUTING_MX = ("route1.mx.cloudflare.net", "route2.mx.cloudflare.net",
                    "route3.mx.cloudflare.net")


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def txt_strings(content: str) -> list[bytes]:
    """Cloudflare TXT content -> character-strings (quoted form or bare text)."""
    content = content.strip()
    if not content.startswith('"'):
        data = content.encode()
        return [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', content):
        raw = re.sub(r"\\(\d{3}|.)", lambda x: chr(int(x.group(1))) if x.group(1).isdigit()
                     else x.group(1), m.group(1)).encode()
        out += [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return out


def quoted(strings: list[bytes]) -> str:
    return " ".join('"' + s.decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for s in strings)


class Refused(Exception):
    """A request Cloudflare refuses; carries the error response."""

    def __init__(self, response):
        super().__init__(response[1]["errors"][0]["message"])
        self.response = response



class RecordOps:
    @staticmethod
    def _error(status: int, code: int, message: str, headers: dict | None = None):
        return status, {"success": False, "errors": [{"code": code, "message": message}],
                        "messages": [], "result": None}, headers or {}

    def _email_routing(self, zone: str) -> list[str]:
        """What enabling Email Routing does to a zone: its own MX and SPF, locked."""
        zid = self.zone_id(zone)
        ids = []
        for rdtype, content, prio in [("MX", mx, 10 * (i + 1))
                                      for i, mx in enumerate(EMAIL_ROUTING_MX)] + [
                ("TXT", '"v=spf1 include:_spf.mx.cloudflare.net ~all"', None)]:
            rid = secrets.token_hex(16)
            body = {"name": zone, "type": rdtype, "content": content, "ttl": 1}
            if prio is not None:
                body["priority"] = prio
            rec = self._record(zid, rid, body, now())
            rec["locked"] = True
            rec["meta"] = {"auto_added": True, "email_routing": True, "read_only": True}
            self.records[zid][rid] = rec
            ids.append(rid)
        self._sync(zid, zone, "MX")
        self._sync(zid, zone, "TXT")
        return ids

    def _filter(self, zid: str, query: dict) -> list[dict]:
        out = list(self.records[zid].values())
        q = {k: v[0] for k, v in query.items()}
        tests = {
            "name": lambda r, v: r["name"] == v.lower(),
            "name.exact": lambda r, v: r["name"] == v.lower(),
            "name.contains": lambda r, v: v.lower() in r["name"],
            "name.startswith": lambda r, v: r["name"].startswith(v.lower()),
            "name.endswith": lambda r, v: r["name"].endswith(v.lower()),
            "type": lambda r, v: r["type"] == v,
            "content": lambda r, v: r["content"].lower() == v.lower(),
            "content.exact": lambda r, v: r["content"].lower() == v.lower(),
        }
        for k, test in tests.items():
            if k in q:
                out = [r for r in out if test(r, q[k])]
        return sorted(out, key=lambda r: (r["type"], r["name"], r["content"]))

    def _validate(self, zid: str, rec: dict, rid: str | None) -> None:
        zone = self.zones[zid]["name"]
        if not rec.get("name") or not rec.get("type") or rec.get("content") is None:
            raise Refused(self._error(400, 9000, "DNS name, type and content are required"))
        name = rec["name"] = rec["name"].lower().rstrip(".")
        if name != zone and not name.endswith("." + zone):
            raise Refused(self._error(400, 9005, "Content for record is invalid: name not in "
                                       "zone"))
        ttl = rec.get("ttl", 1)
        if ttl != 1 and not 60 <= ttl <= 86400:
            raise Refused(self._error(400, 9021, "Invalid TTL. Must be between 60 and 86400 "
                                       "seconds, or 1 for Automatic."))
        if rec["type"] == "MX" and rec.get("priority") is None:
            raise Refused(self._error(400, 9101, "Priority must be set for MX records"))
        others = [r for i, r in self.records[zid].items() if i != rid and r["name"] == name]
        same = txt_strings(rec["content"]) if rec["type"] == "TXT" else rec["content"]
        if any(r["type"] == rec["type"] and (txt_strings(r["content"]) if r["type"] == "TXT"
                                             else r["content"]) == same for r in others):
            raise Refused(self._error(400, 81058, "An identical record already exists."))
        if rec["type"] == "CNAME" and others:
            raise Refused(self._error(400, 81054, "A CNAME record with that host already "
                                       "exists. For more details, refer to <https://developers."
                                       "cloudflare.com/dns/manage-dns-records/troubleshooting/"
                                       "records-with-same-name/>."))
        if any(r["type"] == "CNAME" for r in others):
            raise Refused(self._error(400, 81053, "An A, AAAA, or CNAME record with that host "
                                       "already exists."))

    def _check_unlocked(self, zid: str, rid: str) -> None:
        if self.records[zid][rid].get("locked"):
            raise Refused(self._error(400, 1004, "DNS Validation Error: this record is managed "
                                       "by Email Routing. Disable Email Routing to modify or "
                                       "delete it."))

    def _record(self, zid: str, rid: str, body: dict, created: str) -> dict:
        rec = {
            "id": rid, "zone_id": zid, "zone_name": self.zones[zid]["name"],
            "name": body["name"], "type": body["type"], "content": body["content"],
            "proxiable": body["type"] in ("A", "AAAA", "CNAME"),
            "proxied": bool(body.get("proxied", False)), "ttl": body.get("ttl", 1),
            "locked": False, "settings": body.get("settings") or {}, "meta": {},
            "tags": body.get("tags") or [], "created_on": created, "modified_on": now(),
        }
        if body.get("comment") is not None:  # the schema's comment is a string, never null
            rec["comment"] = body["comment"]
        if body["type"] == "MX":
            rec["priority"] = body["priority"]
        return rec

    def _create(self, zid: str, body: dict) -> dict:
        self._validate(zid, body, None)
        rid = secrets.token_hex(16)
        self.records[zid][rid] = rec = self._record(zid, rid, body, now())
        return rec

    def _update(self, zid: str, rid: str, body: dict, partial: bool) -> dict:
        self._check_unlocked(zid, rid)
        old = self.records[zid][rid]
        merged = {**old, **body} if partial else dict(body)
        self._validate(zid, merged, rid)
        self.records[zid][rid] = rec = self._record(zid, rid, merged, old["created_on"])
        return rec

    def _delete(self, zid: str, rid: str) -> dict:
        self._check_unlocked(zid, rid)
        self.records[zid].pop(rid)
        return {"id": rid}

    def _batch(self, zid: str, body: dict) -> dict:
        def known(rid):
            if rid not in self.records[zid]:
                raise Refused(self._error(404, 81044, "Record does not exist."))
            return rid

        out = {"deletes": [self.records[zid][known(d["id"])] for d in body.get("deletes") or []]}
        for d in body.get("deletes") or []:
            self._delete(zid, d["id"])
        out["patches"] = [self._update(zid, known(p["id"]), p, partial=True)
                          for p in body.get("patches") or []]
        out["puts"] = [self._update(zid, known(p["id"]), p, partial=False)
                       for p in body.get("puts") or []]
        out["posts"] = [self._create(zid, p) for p in body.get("posts") or []]
        return out

    # ------------------------------------------------------------------ write-through to BIND

    def _sync(self, zid: str, name: str, rdtype: str) -> None:
        """Make the real BIND serve exactly this API's RRset at name/type."""
        if self.bind is None:
            return
        import dns.name
        import dns.query
        import dns.rcode
        import dns.rdataclass
        import dns.rdatatype
        import dns.update
        from dns.rdata import from_text
        from dns.rdtypes.ANY.TXT import TXT

        zone = self.zones[zid]["name"]
        recs = [r for r in self.records[zid].values() if r["name"] == name and r["type"] == rdtype]
        import dns.tsigkeyring

        keyname, algorithm, secret = self.bind.tsig.split(":", 2)
        keyring = dns.tsigkeyring.from_text({keyname: (algorithm, secret)})
        u = dns.update.UpdateMessage(zone, keyring=keyring,
                                     keyname=dns.name.from_text(keyname), keyalgorithm=algorithm)
        u.delete(dns.name.from_text(name), rdtype)
        for r in recs:
            ttl = 300 if r["ttl"] == 1 else r["ttl"]
            if rdtype == "TXT":
                rd = TXT(dns.rdataclass.IN, dns.rdatatype.TXT, txt_strings(r["content"]))
            elif rdtype == "MX":
                rd = from_text("IN", "MX", f"{r['priority']} {r['content']}.")
            elif rdtype == "CNAME":
                rd = from_text("IN", "CNAME", r["content"] + ".")
            else:
                rd = from_text("IN", rdtype, r["content"])
            u.add(dns.name.from_text(name), ttl, rd)
        resp = dns.query.tcp(u, "127.0.0.1", port=self.bind.port, timeout=5)
        if resp.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"write-through to BIND failed: {dns.rcode.to_text(resp.rcode())}")
