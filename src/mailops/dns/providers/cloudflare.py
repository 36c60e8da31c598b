"""Cloudflare through the official SDK (cloudflare 5.x), used unchanged.

The API token comes from the environment variable named by ``dns.token_env``;
it is never printed. Cloudflare's API description lists the permission each
call needs: listing zones ``#zone:read``, reading records
``#dns_records:read``, writing them ``#dns_records:edit`` — so the token needs
"Zone → Zone → Read" and "Zone → DNS → Edit" on the zone. Tests point the SDK
at a local stand-in with ``MAILOPS_CLOUDFLARE_BASE_URL``.

An apply sends each zone's changes in ONE batch request (deletes, patches,
posts; Cloudflare runs them in one transaction), changes existing records
with PATCH so their tags and comments stay, and publishes every A/AAAA/CNAME
it owns DNS-only (``proxied: false``): a proxied mail host would answer with
Cloudflare's addresses, which do not speak SMTP. A 429 is waited out as its
Retry-After says, with a note on stderr, up to the length of Cloudflare's
rate-limit window.

Cloudflare stores one record per value, so an RRset is the records sharing a
name and type. TXT content travels as RFC 1035 quoted character-strings,
``"first 255 bytes" "rest"`` (the API's documented format): one record with
several strings, never several records (that would break DKIM, RFC 6376
§3.6.2.2). Records mailops creates carry the comment ``mailops: <reason>``, which
is also how a later plan recognises them as mailops's own.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence

from ..records import canonical
from .base import Provider, ProviderError, RRset, quote_txt
from .cloudflare_errors import TOKEN_FORM, explain

TYPES = ("A", "AAAA", "CNAME", "MX", "TXT")
PROXIABLE = ("A", "AAAA", "CNAME")
MARK = "mailops:"
COMMENT_MAX = 100  # Cloudflare's comment limit on the Free plan
PER_PAGE = 5000  # the schema allows up to 50000 DNS records per page (default 100)
AUTO_TTL = 300  # TTL 1 means "automatic", which Cloudflare serves as 300 s
RATE_WINDOW = 300.0  # 1200 requests per 5 minutes: never wait longer than one window
ROUTING = ("this record is managed by Cloudflare Email Routing, which the API does not let "
           "a token change: to receive mail on this host instead, disable Email Routing for "
           "the zone (dashboard: Email → Email Routing → Settings → Disable), then apply again")


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
        # (name, type, canonical value) -> Cloudflare records, from the last read
        self._records: dict[tuple[str, str, str], list] = {}

    # ------------------------------------------------------------------ SDK plumbing

    def _client(self):
        if self._client_obj is None:
            from cloudflare import Cloudflare

            token = self.credential(self.config.token_env, TOKEN_FORM)
            base_url = self.env.get("MAILOPS_CLOUDFLARE_BASE_URL") or None
            # mailops retries itself, so a rate limit is waited out visibly.
            self._client_obj = Cloudflare(api_token=token, base_url=base_url, max_retries=0,
                                          timeout=30.0)
        return self._client_obj

    def _call(self, doing: str, fn, *args, **kwargs):
        import cloudflare

        waited = 0.0
        retries = int(self.env.get("MAILOPS_CLOUDFLARE_MAX_RETRIES", "2"))
        while True:
            try:
                return fn(*args, **kwargs)
            except cloudflare.RateLimitError as e:
                wait = _retry_after(e.response.headers.get("retry-after"))
                if waited + wait > RATE_WINDOW:
                    raise ProviderError(self.domain, f"Cloudflare kept answering HTTP 429 (rate "
                                        f"limit) while {doing}, after {waited:.0f}s of waiting",
                                        "Cloudflare allows 1200 requests per 5 minutes per "
                                        "user; wait a few minutes (other tools using the same "
                                        "account count too) and run the command again") from None
                self.progress(f"{self.zone}: Cloudflare's rate limit reached while {doing}; "
                              f"waiting {wait:.0f}s as its Retry-After says…")
                time.sleep(wait)
                waited += wait
            except (cloudflare.InternalServerError, cloudflare.APIConnectionError) as e:
                if retries <= 0:
                    raise self._transport_error(e, doing) from None
                retries -= 1
                time.sleep(1.0)
            except cloudflare.APIStatusError as e:
                body = e.body if isinstance(e.body, dict) else {}
                raise ProviderError(self.domain, *explain(e.status_code, body, doing,
                                                          self.config.token_env, self.zone)
                                    ) from None

    def _transport_error(self, e, doing: str) -> ProviderError:
        import cloudflare

        if isinstance(e, cloudflare.APITimeoutError):
            return ProviderError(self.domain, f"the Cloudflare API did not answer while {doing}",
                                 "check the network and run the command again")
        if isinstance(e, cloudflare.APIConnectionError):
            return ProviderError(self.domain, f"could not connect to the Cloudflare API while "
                                 f"{doing} ({e.message})",
                                 "check the network (and MAILOPS_CLOUDFLARE_BASE_URL if set) "
                                 "and run the command again")
        return ProviderError(self.domain, f"Cloudflare answered HTTP {e.status_code} while "
                             f"{doing}", "Cloudflare had an internal error: run the command "
                             "again later")

    def zone_id(self) -> str:
        if self._zone_id is None:
            client = self._client()
            # The same name can be a pending zone in another account; only an
            # active zone is the one the world resolves.
            found = self._call(f"looking up zone {self.zone}",
                               lambda: [z for z in client.zones.list(name=self.zone)
                                        if z.name == self.zone])
            active = [z for z in found if getattr(z, "status", "active") == "active"]
            if not active:
                var = self.config.token_env
                if found:
                    raise ProviderError(self.domain, f"Cloudflare zone {self.zone} is "
                                        f"{found[0].status}, not active",
                                        "finish adding it in Cloudflare (point the domain's name "
                                        "servers at the ones Cloudflare shows), then run the "
                                        "command again")
                raise ProviderError(self.domain, f"Cloudflare lists no zone {self.zone} for "
                                    f"the token in {var}",
                                    "add the zone in Cloudflare or fix dns.zone in the inventory; "
                                    "if it exists, give the token Zone → Zone → Read on it "
                                    "(besides Zone → DNS → Edit): without it no zone is listed")
            self._zone_id = active[0].id
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
                             lambda: list(client.dns.records.list(zone_id=zid,
                                                                  per_page=PER_PAGE)))
        sets: dict[tuple[str, str], dict] = {}
        self._records = {}
        for r in records:
            name = r.name.lower().rstrip(".")
            if r.type not in TYPES:
                continue
            if name not in names and not any(name.endswith("." + s) for s in subtrees):
                continue
            value = _value(r)
            ttl = AUTO_TTL if r.ttl == 1 else int(r.ttl)
            s = sets.setdefault((name, r.type), {"ttls": {}, "marked": True, "proxied": set(),
                                                 "locked": {}})
            s["ttls"][value] = ttl  # per record: a foreign record never decides ours
            s["marked"] &= (getattr(r, "comment", None) or "").startswith(MARK)
            if getattr(r, "proxied", False):
                s["proxied"].add(value)
            if _locked(r):
                s["locked"][value] = ROUTING
            self._records.setdefault((name, r.type, value), []).append(r)
        return [RRset(n, t, max(s["ttls"].values()), tuple(sorted(s["ttls"])), s["marked"],
                      ttls=tuple(sorted(s["ttls"].items())), proxied=tuple(sorted(s["proxied"])),
                      locked=tuple(sorted(s["locked"].items())))
                for (n, t), s in sorted(sets.items())]

    # ------------------------------------------------------------------ write

    def _body(self, rdtype: str, value: str, ttl: int) -> dict:
        body: dict = {"ttl": ttl}
        if rdtype == "TXT":
            body["content"] = quote_txt(value)
        elif rdtype == "MX":
            pref, host = value.split(" ", 1)
            body["content"], body["priority"] = host, int(pref)
        else:
            body["content"] = value
        if rdtype in PROXIABLE:
            body["proxied"] = False  # mail and the MTA-STS host must not sit behind the proxy
        return body

    def batch(self, changes: Sequence) -> dict[str, list[dict]]:
        """The one batch request that makes the zone match ``changes``."""
        deletes, patches, posts = [], [], []
        for c in changes:
            name, rdtype = c.key.name, c.key.type
            ttl = c.ttl_after
            before, after = set(c.before), set(c.after)
            old = [r for v in sorted(before - after) for r in self._records.get((name, rdtype, v),
                                                                                [])]
            new = sorted(after - before)
            for v in sorted(before & after):  # kept values: fix TTL and proxy per record
                for r in self._records.get((name, rdtype, v), []):
                    if (AUTO_TTL if r.ttl == 1 else r.ttl) != ttl or getattr(r, "proxied", False):
                        patches.append({"id": r.id, "type": rdtype,
                                        **self._body(rdtype, v, ttl)})
            # Replace in place where possible: PATCH keeps the record's tags and comment.
            while old and new:
                r, v = old.pop(0), new.pop(0)
                patches.append({"id": r.id, "type": rdtype, **self._body(rdtype, v, ttl)})
            for v in new:
                posts.append({"name": name, "type": rdtype, **self._body(rdtype, v, ttl),
                              "comment": f"{MARK} {c.reason}"[:COMMENT_MAX]})
            deletes += [{"id": r.id} for r in old]
        return {"deletes": deletes, "patches": patches, "posts": posts}

    def apply(self, changes: Sequence) -> None:
        if not changes:
            return
        zid = self.zone_id()
        client = self._client()
        if not self._records:
            self.read({c.key.name for c in changes},
                      {c.key.name for c in changes if "._domainkey." in c.key.name})
        ops = {k: v for k, v in self.batch(changes).items() if v}
        if ops:
            self._call(f"publishing {len(changes)} change(s) in zone {self.zone}",
                       client.dns.records.batch, zone_id=zid, **ops)
        self._records = {}


def _value(r) -> str:
    content = r.content or ""
    if r.type == "TXT":
        return unquote_txt(content)
    if r.type == "MX":
        return canonical("MX", f"{int(getattr(r, 'priority', 0) or 0)} {content}")
    return canonical(r.type, content)


def _locked(r) -> bool:
    """Cloudflare manages this record itself (Email Routing's MX/SPF): the API refuses edits.

    The schema marks it ``locked``; Email Routing's records also say so in ``meta``.
    """
    meta = getattr(r, "meta", None)
    flags = meta.model_dump() if hasattr(meta, "model_dump") else dict(meta or {})
    flags.update(getattr(meta, "model_extra", None) or {})
    extra = getattr(r, "model_extra", None) or {}  # fields the SDK model does not declare
    return bool(getattr(r, "locked", False) or extra.get("locked")
                or flags.get("email_routing") or flags.get("read_only"))


def _retry_after(header: str | None) -> float:
    """Seconds to wait from a Retry-After header (RFC 9110 §10.2.3: seconds or a date)."""
    try:
        return max(1.0, float(header or 60))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(1.0, parsedate_to_datetime(header).timestamp() - time.time())
        except (TypeError, ValueError):
            return 60.0
