"""The diff between desired records and the live zone, and who owns what."""

from __future__ import annotations

from mailops.dns.plan import diff
from mailops.dns.providers.base import RRset
from mailops.dns.records import records_for
from mailops.inventory import parse_mail_settings

DKIM = {"example.test": [("s202611a", "v=DKIM1; k=rsa; p=AAAA")]}


def settings(**extra):
    return parse_mail_settings({"hostname": "mx1.example.test", "ipv4": ["192.0.2.10"],
                                "domains": {"example.test": {
                                    "dns": {"provider": "rfc2136", "server": "127.0.0.1"},
                                    **extra}}})


def live_from(records, *extra):
    """The live zone after a perfect apply of `records` (plus extra RRsets)."""
    out = {(r.name, r.type): RRset(r.name, r.type, r.ttl, r.values) for r in records}
    for rr in extra:
        old = out.get((rr.name, rr.type))
        values = (old.values if old else ()) + rr.values
        out[(rr.name, rr.type)] = RRset(rr.name, rr.type, rr.ttl, tuple(sorted(values)), rr.marked)
    return list(out.values())


def plan(s, live, dkim=DKIM, **kw):
    return diff(records_for(s, dkim), live, s.domains, **kw)


def test_a_zone_that_matches_gives_no_change():
    s = settings()
    assert plan(s, live_from(records_for(s, DKIM))) == []


def test_an_empty_zone_gets_every_record_created():
    s = settings()
    changes = plan(s, [])
    assert {c.action for c in changes} == {"create"}
    assert len(changes) == len(records_for(s, DKIM))


def test_a_changed_setting_is_exactly_one_update_showing_old_and_new():
    live = live_from(records_for(settings(), DKIM))
    (c,) = plan(settings(dmarc={"policy": "quarantine"}), live)
    assert (c.action, c.name, c.type) == ("update", "_dmarc.example.test", "TXT")
    assert "p=reject" in c.before[0] and "p=quarantine" in c.after[0]


def test_a_ttl_change_is_an_update():
    live = live_from(records_for(settings(), DKIM))
    changes = plan(settings(dns={"provider": "rfc2136", "server": "127.0.0.1", "ttl": 600}), live)
    assert changes and all(c.action == "update" and c.ttl_after == 600 for c in changes)


def test_a_ttl_the_provider_rounds_up_is_not_a_perpetual_change():
    s = settings(dns={"provider": "rfc2136", "server": "127.0.0.1", "ttl": 30})
    live = [RRset(r.name, r.type, 60, r.values) for r in records_for(s, DKIM)]
    assert plan(s, live, effective_ttl=lambda t: max(60, t)) == []


def test_other_txt_records_at_the_apex_are_never_changed():
    s = settings(spf={"include": ["spf.provider.test"]})
    live = live_from([r for r in records_for(settings(), DKIM)],
                     RRset("example.test", "TXT", 300, ("google-site-verification=abc",)))
    (c,) = plan(s, live)
    assert c.before == ("v=spf1 mx -all",)
    assert c.after == ("v=spf1 mx include:spf.provider.test -all",)
    assert "google-site-verification=abc" not in c.before + c.after


def test_verification_txt_alone_at_the_apex_means_spf_is_created_next_to_it():
    s = settings()
    live = [rr for rr in live_from(records_for(s, DKIM)) if rr.name != "example.test"
            or rr.type != "TXT"] + [RRset("example.test", "TXT", 300, ("ms=12345",))]
    (c,) = plan(s, live)
    assert (c.action, c.before, c.after) == ("create", (), ("v=spf1 mx -all",))


def test_two_spf_records_are_merged_into_one_with_the_rfc_reason():
    s = settings()
    live = live_from(records_for(s, DKIM), RRset("example.test", "TXT", 300, ("v=spf1 a -all",)))
    (c,) = plan(s, live)
    assert c.action == "update" and len(c.before) == 2 and c.after == ("v=spf1 mx -all",)
    assert any("RFC 7208 §4.5" in n for n in c.notes)


def test_an_spf_update_warns_which_senders_it_drops():
    s = settings()
    live = [rr if (rr.name, rr.type) != ("example.test", "TXT") else
            RRset(rr.name, "TXT", 300, ("v=spf1 mx include:_spf.google.com -all",))
            for rr in live_from(records_for(s, DKIM))]
    (c,) = plan(s, live)
    assert any("include:_spf.google.com" in n and "spf.include" in n for n in c.notes)


def test_an_extra_mx_is_removed_because_mailops_owns_the_mx_set():
    s = settings()
    live = live_from(records_for(s, DKIM), RRset("example.test", "MX", 300, ("20 backup.test",)))
    (c,) = plan(s, live)
    assert (c.action, c.before, c.after) == ("update", ("10 mx1.example.test", "20 backup.test"),
                                             ("10 mx1.example.test",))


def test_a_retired_selector_the_keystore_made_is_deleted():
    s = settings()
    old = RRset("s202610a._domainkey.example.test", "TXT", 300, ("v=DKIM1; p=OLD",))
    (c,) = plan(s, live_from(records_for(s, DKIM), old),
                known_selectors={"example.test": {"s202610a", "s202611a"}})
    assert (c.action, c.name, c.owned) == ("delete", "s202610a._domainkey.example.test", True)


def test_deleting_a_selector_mailops_did_not_create_is_refused():
    s = settings()
    foreign = RRset("google._domainkey.example.test", "TXT", 300, ("v=DKIM1; p=GOOG",))
    (c,) = plan(s, live_from(records_for(s, DKIM), foreign),
                known_selectors={"example.test": {"s202611a"}})
    assert (c.action, c.owned) == ("delete", False)
    assert "not created by mailops" in c.reason


def test_a_selector_carrying_mailops_marker_at_the_provider_is_deletable():
    s = settings()
    marked = RRset("s1._domainkey.example.test", "TXT", 300, ("v=DKIM1; p=X",), marked=True)
    (c,) = plan(s, live_from(records_for(s, DKIM), marked))
    assert (c.action, c.owned) == ("delete", True)


def test_turning_mta_sts_off_deletes_its_records():
    live = live_from(records_for(settings(), DKIM))
    changes = plan(settings(mta_sts={"mode": "none"}), live)
    assert {(c.action, c.name, c.type, c.owned) for c in changes} == {
        ("delete", "_mta-sts.example.test", "TXT", True),
        ("delete", "mta-sts.example.test", "CNAME", True)}


def test_changing_the_mta_sts_mode_updates_exactly_the_mta_sts_txt():
    live = live_from(records_for(settings(), DKIM))
    (c,) = plan(settings(mta_sts={"mode": "enforce"}), live)
    assert (c.action, c.name) == ("update", "_mta-sts.example.test")
    assert c.before[0].startswith("v=STSv1; id=") and c.after[0] != c.before[0]


def test_names_mailops_does_not_manage_are_not_in_the_plan():
    s = settings()
    live = live_from(records_for(s, DKIM), RRset("www.example.test", "A", 300, ("192.0.2.80",)),
                     RRset("example.test", "A", 300, ("192.0.2.80",)))
    assert plan(s, live) == []


# ---------------------------------------------------------------- what else the plan sees


def v6_settings(ipv6=("2001:db8::10",)):
    return parse_mail_settings({"hostname": "mx1.example.test", "ipv4": ["192.0.2.10"],
                                "ipv6": list(ipv6), "domains": {"example.test": {
                                    "dns": {"provider": "rfc2136", "server": "127.0.0.1"}}}})


def test_an_address_the_inventory_dropped_is_deleted_with_its_reason():
    live = live_from(records_for(v6_settings(), DKIM))
    (c,) = plan(v6_settings(ipv6=()), live)
    assert (c.action, c.name, c.type, c.owned) == ("delete", "mx1.example.test", "AAAA", True)
    assert "no IPv6 address" in c.reason


def test_a_cname_planned_beside_an_address_is_blocked_naming_it():
    s = settings()
    live = [rr for rr in live_from(records_for(s, DKIM)) if rr.type != "CNAME"]
    live.append(RRset("mta-sts.example.test", "A", 300, ("192.0.2.50",)))
    (c,) = plan(s, live)
    assert (c.action, c.type) == ("create", "CNAME")
    assert "mta-sts.example.test A 192.0.2.50" in c.blocked and "RFC 1034 §3.6.2" in c.blocked


def test_a_record_planned_where_a_foreign_cname_sits_is_blocked():
    s = settings()
    live = [rr for rr in live_from(records_for(s, DKIM)) if rr.name != "_dmarc.example.test"]
    live.append(RRset("_dmarc.example.test", "CNAME", 300, ("dmarc.provider.test",)))
    (c,) = plan(s, live)
    assert c.name == "_dmarc.example.test" and "is a CNAME" in c.blocked


def test_ttls_are_compared_per_record_not_taken_from_a_foreign_one():
    s = settings()
    live = live_from(records_for(s, DKIM))
    apex = next(rr for rr in live if rr.name == "example.test" and rr.type == "TXT")
    live[live.index(apex)] = RRset(apex.name, "TXT", 3600, apex.values + ("ms=1",),
                                   ttls=((apex.values[0], apex.ttl), ("ms=1", 3600)))
    assert plan(s, live) == []


def test_a_proxied_record_we_own_is_an_update_saying_why():
    s = settings()
    live = live_from(records_for(s, DKIM))
    a = next(rr for rr in live if rr.type == "A")
    live[live.index(a)] = RRset(a.name, "A", a.ttl, a.values, proxied=a.values)
    (c,) = plan(s, live)
    assert c.action == "update" and c.before == c.after and "proxied" in c.notes[0]


def test_a_record_the_provider_locks_is_blocked_with_the_providers_reason():
    s = settings()
    live = [rr for rr in live_from(records_for(s, DKIM)) if rr.type != "MX"]
    live.append(RRset("example.test", "MX", 300, ("10 route1.mx.cloudflare.net",),
                      locked=(("10 route1.mx.cloudflare.net", "managed by Email Routing"),)))
    (c,) = plan(s, live)
    assert c.type == "MX" and c.blocked == "managed by Email Routing"
