"""populate → plan → apply (the octoDNS cycle, DESIGN.md convention 5).

:func:`diff` is pure: desired records + live RRsets -> changes. :func:`make_plan`
reads each provider and diffs; :func:`apply_plan` writes only what the plan
says. An unchanged zone yields no change and therefore no write call.

Ownership — what mailops may touch:

* Only the keys of the records it computes (records.RecordKey), plus the
  fixed mail names of each domain (records.fixed_keys) and every TXT under
  ``_domainkey.<domain>``. Nothing else is read into the plan.
* At a shared name only the values with mailops's version tag are owned: at
  the apex that is the TXT starting with ``v=spf1`` (site-verification TXT
  records next to it are never changed), and the whole MX set.
* "Created by mailops", for deletions: a fixed mail name (the inventory turned
  the feature off, e.g. mta_sts.mode: none), or a DKIM selector the keystore
  knows (every key it ever made, retired ones included), or a record carrying
  mailops's marker at the provider (Cloudflare record comment). Any other
  deletion — a DKIM selector mailops never made, e.g. a mail provider's — is
  *refused*: shown in the plan, skipped by apply unless ``force``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from ..inventory import DnsProvider, Domain, MailSettings
from .changes import ADDRESS_TYPES, CREATE, DELETE, UPDATE, Change, RRset
from .providers.base import ApplyError, Provider
from .records import Record, RecordKey, fixed_keys, records_for_hosts

__all__ = ["CREATE", "DELETE", "UPDATE", "Change", "ZonePlan", "apply_plan", "diff",
           "make_plan"]


# --------------------------------------------------------------------------- the pure diff


def _spf_notes(before: Sequence[str], after: Sequence[str]) -> tuple[str, ...]:
    notes = []
    if len(before) > 1:
        notes.append(f"merges {len(before)} SPF records into one: more than one makes every "
                     "SPF check fail with permerror (RFC 7208 §4.5)")
    if after:
        keep = set(after[0].split()[1:])
        dropped = sorted({t for v in before for t in v.split()[1:]} - keep
                         - {"-all", "~all", "?all", "+all", "all"})
        if dropped:
            notes.append(f"drops {' '.join(dropped)} from SPF: not in the inventory — add them to "
                         "spf.include / spf.ip4 / spf.ip6 to keep those senders authorised")
    return tuple(notes)


def _conflict(key: RecordKey, live_at: Mapping[tuple[str, str], RRset],
              leaving: Collection[tuple[str, str]]) -> str:
    """What at the name stops this record from being published (RFC 1034 §3.6.2)."""
    if key.type == "CNAME":
        others = [rr for (n, t), rr in sorted(live_at.items())
                  if n == key.name and t != "CNAME" and (n, t) not in leaving]
        if others:
            held = "; ".join(f"{rr.name} {rr.type} {' '.join(rr.values)}" for rr in others)
            return (f"the name already holds {held}, and a CNAME cannot share a name with other "
                    "data (RFC 1034 §3.6.2): delete that record at the provider if it is no "
                    "longer needed, or turn this record off in the inventory")
    else:
        cname = live_at.get((key.name, "CNAME"))
        if cname is not None and (key.name, "CNAME") not in leaving:
            return (f"the name is a CNAME ({cname.name} CNAME {' '.join(cname.values)}), which "
                    "cannot have other data beside it (RFC 1034 §3.6.2): delete that CNAME at "
                    "the provider, or move this record")
    return ""


def _locked(rr: RRset | None, values: Collection[str]) -> str:
    locks = dict(rr.locked) if rr else {}
    return next((locks[v] for v in sorted(values) if v in locks), "")


def _proxy_note(key: RecordKey, rr: RRset | None, values: Collection[str]) -> str:
    if rr is None or not set(values) & set(rr.proxied):
        return ""
    return (f"{key.name} {key.type} is proxied by the provider (orange cloud): DNS answers carry "
            "the proxy's addresses, so mail (SMTP on port 25), the MTA-STS policy host and "
            "certificates reach the proxy, not this host; mailops publishes it DNS-only "
            "(proxied=false)")


def _delete_reason(key: RecordKey, owned: bool) -> str:
    if not owned:
        return "not created by mailops (unknown DKIM selector); kept unless --force"
    if key.type in ADDRESS_TYPES:
        fam = "IPv4" if key.type == "A" else "IPv6"
        return (f"the inventory lists no {fam} address for {key.name} any more: senders would "
                "still try this stale address and fail (RFC 5321 §5.1)")
    return "no longer wanted by the inventory"


def diff(
    desired: Sequence[Record],
    live: Sequence[RRset],
    domains: Sequence[Domain] = (),
    known_selectors: Mapping[str, Collection[str]] | None = None,
    effective_ttl: Callable[[int], int] = lambda ttl: ttl,
) -> list[Change]:
    """The changes that make ``live`` match ``desired`` for the keys mailops owns.

    ``domains`` are the hosted domains in scope: their fixed mail names and
    their ``_domainkey`` subtree are watched for leftovers to delete. The
    address records of a mail host name are owned whole: an address the
    inventory no longer lists (A or AAAA) is deleted.
    """
    known_selectors = known_selectors or {}
    live_at = {(r.name.lower(), r.type): r for r in live}
    want = {r.key: r for r in desired}
    scope: dict[RecordKey, tuple[str, str, bool]] = {}  # key -> (zone, domain, owned if stale)
    for d in domains:
        for k in fixed_keys(d):
            scope[k] = (d.dns.zone, d.name, True)
        suffix = f"._domainkey.{d.name}"
        for r in live:
            if r.type == "TXT" and r.name.lower().endswith(suffix):
                selector = r.name.lower()[: -len(suffix)]
                mine = selector in set(known_selectors.get(d.name, ())) or r.marked
                scope[RecordKey(r.name.lower(), "TXT")] = (d.dns.zone, d.name, mine)
    for k, rec in want.items():
        if k.type in ADDRESS_TYPES:
            for t in ADDRESS_TYPES:
                scope.setdefault(RecordKey(k.name, t), (rec.zone, rec.domain, True))
    for k, rec in want.items():
        scope[k] = (rec.zone, rec.domain, True)

    # Whole RRsets this plan removes: they no longer conflict with what it adds.
    leaving = {(k.name, k.type) for k in scope if k not in want and not k.match
               and (k.name, k.type) in live_at and scope[k][2]}
    changes = []
    for key in sorted(scope):
        zone, domain, owned = scope[key]
        rr = live_at.get((key.name, key.type))
        before = tuple(sorted(v for v in rr.values if key.owns(v))) if rr else ()
        ttl_before = rr.ttl_of(before) if before else None
        rec = want.get(key)
        if rec is not None:
            ttl = effective_ttl(rec.ttl)
            notes = _spf_notes(before, rec.values) if key.match == "v=spf1" else ()
            proxy = _proxy_note(key, rr, before)
            notes += (proxy,) if proxy else ()
            blocked = (_locked(rr, set(before) ^ set(rec.values))
                       or _conflict(key, live_at, leaving))
            if not before:
                changes.append(Change(CREATE, key, zone, domain, (), rec.values, None, ttl,
                                      rec.reason, notes=notes, blocked=blocked))
            elif set(before) != set(rec.values) or ttl_before != ttl or proxy:
                changes.append(Change(UPDATE, key, zone, domain, before, rec.values, ttl_before,
                                      ttl, rec.reason, notes=notes, blocked=blocked))
        elif before:
            changes.append(Change(DELETE, key, zone, domain, before, (), ttl_before, None,
                                  _delete_reason(key, owned), owned=owned,
                                  blocked=_locked(rr, before)))
    return changes


# --------------------------------------------------------------------------- providers and plans


@dataclass
class ZonePlan:
    zone: str
    kind: str  # provider kind
    domains: tuple[str, ...]
    changes: list[Change] = field(default_factory=list)
    provider: Provider | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)  # how the zone was read, once per zone

    def pending(self, force: bool = False) -> list[Change]:
        """What apply will write: everything except refused deletions (unless force)."""
        return [c for c in self.changes if (c.owned or force) and not c.blocked]

    def refused(self, force: bool = False) -> list[Change]:
        return [] if force else [c for c in self.changes if not c.owned and not c.blocked]

    def blocked(self) -> list[Change]:
        return [c for c in self.changes if c.blocked]


def _group(dns: DnsProvider) -> tuple:
    # Domains that share a zone and credentials share one provider (TTL may differ).
    return (dns.kind, dns.zone, dns.server, dns.port, dns.tsig_env, dns.token_env)


ProviderFactory = Callable[[DnsProvider, str], Provider]


def make_plan(
    hosts: Sequence[MailSettings],
    dkim: Mapping[str, Sequence[tuple[str, str]]],
    only: Collection[str] = (),
    known_selectors: Mapping[str, Collection[str]] | None = None,
    provider_factory: ProviderFactory | None = None,
) -> list[ZonePlan]:
    """Read every provider concerned and diff it against the records of the inventory.

    Domains on the "manual" provider get a ZonePlan without provider or changes:
    `mailops dns zone` prints their records for pasting.
    """
    if provider_factory is None:
        from .providers import get_provider as provider_factory
    desired = records_for_hosts(hosts, dkim)
    domains: dict[str, Domain] = {}
    for h in hosts:
        for d in h.domains:
            domains.setdefault(d.name, d)
    unknown = sorted(set(only) - set(domains))
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a domain of this inventory; "
                         f"expected one of {', '.join(sorted(domains))}")
    selected = [domains[n] for n in sorted(domains) if not only or n in only]

    groups: dict[tuple, list[Domain]] = {}
    for d in selected:
        groups.setdefault(_group(d.dns), []).append(d)
    plans = []
    for _, ds in sorted(groups.items()):
        names = {d.name for d in ds}
        recs = [r for r in desired if r.domain in names]
        plan = ZonePlan(zone=ds[0].dns.zone, kind=ds[0].dns.kind, domains=tuple(sorted(names)))
        plans.append(plan)
        if ds[0].dns.kind == "manual":
            continue
        provider = provider_factory(ds[0].dns, ds[0].name)
        plan.provider = provider
        read_names = {r.name for r in recs} | {k.name for d in ds for k in fixed_keys(d)}
        for d in ds:
            sels = (known_selectors or {}).get(d.name, ())
            read_names |= {f"{s}._domainkey.{d.name}" for s in sels}
        live = provider.read(sorted(read_names), [f"_domainkey.{d.name}" for d in ds])
        plan.notes = list(provider.notes)
        plan.changes = diff(recs, live, ds, known_selectors, provider.effective_ttl)
    return plans


def _served(rrsets: Sequence[RRset], name: str) -> str:
    found = [f"{rr.type} {' '.join(rr.values)}" for rr in rrsets if rr.name == name]
    return "; ".join(found) or "nothing"


def _not_taken(plan: ZonePlan, applied: Sequence[Change]) -> list[str]:
    """Re-read what was written: a server may accept an UPDATE yet ignore part of it
    (BIND and Knot drop a CNAME added beside other data, RFC 1034 §3.6.2)."""
    if not applied or plan.provider is None:
        return []
    names = sorted({c.key.name for c in applied})
    live = plan.provider.read(names)
    at = {(r.name, r.type): r for r in live}
    out = []
    for c in applied:
        rr = at.get((c.key.name, c.key.type))
        now = {v for v in rr.values if c.key.owns(v)} if rr else set()
        if now == set(c.after):
            continue
        conflict = _conflict(c.key, at, ())
        want = " ".join(c.after) if c.after else "(deleted)"
        out.append(f"{c.key} {want}: the server accepted the update but does not serve it "
                   f"(it serves {_served(live, c.key.name)} at {c.key.name})"
                   + (f" — {conflict}" if conflict else " — check the server's log"))
    return out


def apply_plan(plans: Sequence[ZonePlan], force: bool = False) -> int:
    """Write the pending changes of every zone, then check the server took them.

    Returns how many changes were applied. Blocked changes are not written;
    they, and any change the server did not take, raise :class:`ApplyError`
    after every zone's other changes are written.
    """
    done = 0
    problems: list[tuple[str, str]] = []
    for plan in plans:
        if plan.provider is None:
            continue
        pending = plan.pending(force)
        if pending:
            plan.provider.apply(pending)
            done += len(pending)
        problems += [(c.domain, f"{c.key}: not written — {c.blocked}") for c in plan.blocked()]
        problems += [(plan.domains[0], p) for p in _not_taken(plan, pending)]
    if problems:
        raise ApplyError(", ".join(sorted({d for d, _ in problems})), [p for _, p in problems])
    return done
