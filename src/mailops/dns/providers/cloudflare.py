"""Cloudflare through the official SDK (cloudflare 5.x), used unchanged.

The API token comes from the environment variable named by ``dns.token_env``
(it needs Zone → DNS → Edit on the zone); it is never printed. Tests point the
SDK at a local stand-in with ``MAILOPS_CLOUDFLARE_BASE_URL``.

Cloudflare stores one record per value, so an RRset is the records sharing a
name and type. TXT content travels as RFC 1035 quoted character-strings,
``"first 255 bytes" "rest"`` (the API's documented format): one record with
several strings, never several records (that would break DKIM, RFC 6376
§3.6.2.2). Records mailops creates carry the comment ``mailops: <reason>``, which
is also how a later plan recognises them as mailops's own.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ..records import canonical
from .base import Provider, ProviderError, RRset, quote_txt

TYPES = ("A", "AAAA", "CNAME", "MX", "TXT")
MARK = "mailops:"
COMMENT_MAX = 100  # Cloudflare's comment limit on the Free plan
TOKEN_FORM = "'<Cloudflare API token with Zone:DNS:Edit on the zone>'"


def unquote_txt(content: str) -> str:
    """Cloudflare TXT content (quoted strings, or legacy bare text) -> the joined value."""
    content = content.strip()
    if not content.startswith('"'):
        return content
    parts, cur, i, inside = [], [], 0, False
    while i < len(content):
        ch = content[i]
        if not inside:
            if ch == '"':
                inside, cur = True, []
        elif ch == "\\" and i + 1 < len(content):
            nxt = content[i + 1: i + 4]
            if nxt.isdigit() and len(nxt) == 3:  # \DDD (RFC 1035 §5.1)
                cur.append(chr(int(nxt)))
                i += 3
            else:
                cur.append(content[i + 1])
                i += 1
        elif ch == '"':
            inside = False
            parts.append("".join(cur))
        else:
            cur.append(ch)
        i += 1
    return "".join(parts)


class CloudflareProvider(Provider):
    kind = "cloudflare"

    def __init__(self, config, domain, env=None):
        super().__init__(config, domain, env)
        self._client_obj = None
        self._zone_id: str | None = None
        # (name, type, canonical value) -> Cloudflare record ids, from the last read
        self._ids: dict[tuple[str, str, str], list[str]] = {}

    # ------------------------------------------------------------------ SDK plumbing

    def _client(self):
        if self._client_obj is None:
            from cloudflare import Cloudflare

            token = self.credential(self.config.token_env, TOKEN_FORM)
            base_url = self.env.get("MAILOPS_CLOUDFLARE_BASE_URL") or None
            retries = int(self.env.get("MAILOPS_CLOUDFLARE_MAX_RETRIES", "2"))
            self._client_obj = Cloudflare(api_token=token, base_url=base_url,
                                          max_retries=retries, timeout=30.0)
        return self._client_obj

    def _call(self, doing: str, fn, *args, **kwargs):
        import cloudflare

        try:
            return fn(*args, **kwargs)
        except cloudflare.APIStatusError as e:
            raise self._status_error(e, doing) from None
        except cloudflare.APITimeoutError:
            raise ProviderError(self.domain, f"the Cloudflare API did not answer while {doing}",
                                "check the network and run the command again") from None
        except cloudflare.APIConnectionError as e:
            raise ProviderError(self.domain, f"could not connect to the Cloudflare API while "
                                f"{doing} ({e.message})",
                                "check the network (and MAILOPS_CLOUDFLARE_BASE_URL if set) and "
                                "run the command again") from None

    def _status_error(self, e, doing: str) -> ProviderError:
        body = e.body if isinstance(e.body, dict) else {}
        errors = body.get("errors") or []
        detail = "; ".join(f"code {x.get('code')}: {x.get('message')}" for x in errors
                           if isinstance(x, dict)) or f"HTTP {e.status_code}"
        var = self.config.token_env
        what = f"Cloudflare answered HTTP {e.status_code} while {doing} ({detail})"
        if e.status_code == 401:
            todo = (f"the API token in {var} is not valid: create a token with Zone → DNS → "
                    f"Edit for {self.zone} and export it as {var}")
        elif e.status_code == 403:
            todo = (f"the API token in {var} may not edit DNS of {self.zone}: give it "
                    "Zone → DNS → Edit on that zone")
        elif e.status_code == 404:
            todo = (f"check that zone {self.zone} exists in the Cloudflare account of the token "
                    f"in {var} (dns.zone in the inventory)")
        elif e.status_code == 429:
            todo = ("Cloudflare's rate limit (1200 requests per 5 minutes) was reached: wait a "
                    "few minutes and run the command again")
        else:
            todo = "fix what Cloudflare reports and run the command again"
        return ProviderError(self.domain, what, todo)

    def zone_id(self) -> str:
        if self._zone_id is None:
            client = self._client()
            found = self._call(f"looking up zone {self.zone}",
                               lambda: [z for z in client.zones.list(name=self.zone)
                                        if z.name == self.zone])
            if not found:
                raise ProviderError(self.domain, f"Cloudflare has no zone {self.zone} in the "
                                    f"account of the token in {self.config.token_env} (404)",
                                    "add the zone in Cloudflare, or fix dns.zone in the inventory")
            self._zone_id = found[0].id
        return self._zone_id

    def effective_ttl(self, ttl: int) -> int:
        # Cloudflare accepts 60..86400 (30 only on Enterprise) and 1 = "automatic".
        return max(60, ttl)

    # ------------------------------------------------------------------ read

    def read(self, names: Collection[str], subtrees: Collection[str] = ()) -> list[RRset]:
        names = {n.lower().rstrip(".") for n in names}
        subtrees = {s.lower().rstrip(".") for s in subtrees}
        zid = self.zone_id()
        client = self._client()
        # One listing of the zone (the SDK follows the pages) rather than a
        # request per name: fewer calls against the rate limit.
        records = self._call(f"reading the DNS records of {self.zone}",
                             lambda: list(client.dns.records.list(zone_id=zid, per_page=100)))
        sets: dict[tuple[str, str], dict] = {}
        self._ids = {}
        for r in records:
            name = r.name.lower().rstrip(".")
            if r.type not in TYPES:
                continue
            if name not in names and not any(name.endswith("." + s) for s in subtrees):
                continue
            content = r.content or ""
            if r.type == "TXT":
                value = unquote_txt(content)
            elif r.type == "MX":
                value = canonical("MX", f"{int(getattr(r, 'priority', 0) or 0)} {content}")
            else:
                value = canonical(r.type, content)
            s = sets.setdefault((name, r.type), {"ttl": r.ttl, "values": set(), "marked": True})
            s["values"].add(value)
            s["ttl"] = 300 if r.ttl == 1 else r.ttl  # 1 = automatic, which is 300 s
            s["marked"] &= (getattr(r, "comment", None) or "").startswith(MARK)
            self._ids.setdefault((name, r.type, value), []).append(r.id)
        return [RRset(n, t, int(s["ttl"]), tuple(sorted(s["values"])), s["marked"])
                for (n, t), s in sorted(sets.items())]

    # ------------------------------------------------------------------ write

    def _body(self, name: str, rdtype: str, value: str, ttl: int, reason: str) -> dict:
        body = {"name": name, "type": rdtype, "ttl": ttl,
                "comment": f"{MARK} {reason}"[:COMMENT_MAX]}
        if rdtype == "TXT":
            body["content"] = quote_txt(value)
        elif rdtype == "MX":
            pref, host = value.split(" ", 1)
            body["content"], body["priority"] = host, int(pref)
        else:
            body["content"] = value
            body["proxied"] = False  # mail and the MTA-STS host must not sit behind the proxy
        return body

    def apply(self, changes: Sequence) -> None:
        if not changes:
            return
        zid = self.zone_id()
        client = self._client()
        if not self._ids:
            self.read({c.key.name for c in changes},
                      {c.key.name for c in changes if "._domainkey." in c.key.name})
        records = client.dns.records
        # Addresses before the MX and CNAME that point at them, deletions last.
        order = {"A": 0, "AAAA": 0, "CNAME": 1, "TXT": 2, "MX": 3}
        for c in sorted(changes, key=lambda c: (not c.after, order.get(c.key.type, 9))):
            name, rdtype = c.key.name, c.key.type
            doing = f"publishing {name} {rdtype}"
            before, after = set(c.before), set(c.after)
            old = [(v, rid) for v in sorted(before - after)
                   for rid in self._ids.get((name, rdtype, v), [])]
            new = sorted(after - before)
            if c.ttl_after is not None and c.ttl_after != c.ttl_before:
                for v in sorted(before & after):
                    for rid in self._ids.get((name, rdtype, v), []):
                        self._call(doing, records.update, rid, zone_id=zid,
                                   **self._body(name, rdtype, v, c.ttl_after, c.reason))
            # Replace in place where possible: the name never goes without a value.
            while old and new:
                (_, rid), v = old.pop(0), new.pop(0)
                self._call(doing, records.update, rid, zone_id=zid,
                           **self._body(name, rdtype, v, c.ttl_after, c.reason))
            for v in new:
                self._call(doing, records.create, zone_id=zid,
                           **self._body(name, rdtype, v, c.ttl_after, c.reason))
            for _, rid in old:
                self._call(f"deleting {name} {rdtype}", records.delete, rid, zone_id=zid)
        self._ids = {}
