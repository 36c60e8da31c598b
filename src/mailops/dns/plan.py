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
from dataclasses import asdict, dataclass, field

from ..inventory import DnsProvider, Domain, MailSettings
from .providers.base import Provider, RRset
from .records import Record, RecordKey, fixed_keys, records_for_hosts

CREATE, UPDATE, DELETE = "create", "update", "delete"


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    key: RecordKey
    zone: str
    domain: str
    before: tuple[str, ...]  # the live values the key owns (other values at the name excluded)
    after: tuple[str, ...]
    ttl_before: int | None
    ttl_after: int | None
    reason: str
    owned: bool = True  # False: a deletion of something mailops did not create
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def type(self) -> str:
        return self.key.type

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("key")
        return {"name": self.key.name, "type": self.key.type, "match": self.key.match, **d}


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


def diff(
    desired: Sequence[Record],
    live: Sequence[RRset],
    domains: Sequence[Domain] = (),
    known_selectors: Mapping[str, Collection[str]] | None = None,
    effective_ttl: Callable[[int], int] = lambda ttl: ttl,
) -> list[Change]:
    """The changes that make ``live`` match ``desired`` for the keys mailops owns.

    ``domains`` are the hosted domains in scope: their fixed mail names and
    their ``_domainkey`` subtree are watched for leftovers to delete.
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
        scope[k] = (rec.zone, rec.domain, True)

    changes = []
    for key in sorted(scope):
        zone, domain, owned = scope[key]
        rr = live_at.get((key.name, key.type))
        before = tuple(sorted(v for v in rr.values if key.owns(v))) if rr else ()
        ttl_before = rr.ttl if before else None
        rec = want.get(key)
        if rec is not None:
            ttl = effective_ttl(rec.ttl)
            notes = _spf_notes(before, rec.values) if key.match == "v=spf1" else ()
            if not before:
                changes.append(Change(CREATE, key, zone, domain, (), rec.values, None, ttl,
                                      rec.reason, notes=notes))
            elif set(before) != set(rec.values) or ttl_before != ttl:
                changes.append(Change(UPDATE, key, zone, domain, before, rec.values, ttl_before,
                                      ttl, rec.reason, notes=notes))
        elif before:
            why = ("no longer wanted by the inventory" if owned else
                   "not created by mailops (unknown DKIM selector); kept unless --force")
            changes.append(Change(DELETE, key, zone, domain, before, (), ttl_before, None, why,
                                  owned=owned))
    return changes


# --------------------------------------------------------------------------- providers and plans


@dataclass
class ZonePlan:
    zone: str
    kind: str  # provider kind
    domains: tuple[str, ...]
    changes: list[Change] = field(default_factory=list)
    provider: Provider | None = field(default=None, repr=False)

    def pending(self, force: bool = False) -> list[Change]:
        """What apply will write: everything except refused deletions (unless force)."""
        return [c for c in self.changes if c.owned or force]

    def refused(self, force: bool = False) -> list[Change]:
        return [] if force else [c for c in self.changes if not c.owned]


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
        plan.changes = diff(recs, live, ds, known_selectors, provider.effective_ttl)
    return plans


def apply_plan(plans: Sequence[ZonePlan], force: bool = False) -> int:
    """Write the pending changes of every zone; returns how many changes were applied."""
    done = 0
    for plan in plans:
        pending = plan.pending(force)
        if pending and plan.provider is not None:
            plan.provider.apply(pending)
            done += len(pending)
    return done

