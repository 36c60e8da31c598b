"""How mailops treats Cloudflare records as Cloudflare really stores them.

Proxy status, per-record TTLs ("automatic" = 1), TXT content stored quoted
or bare, records Email Routing manages, tags and comments set in the
dashboard, the page size of the listing. Records are created through the
official SDK the way the dashboard or another tool would.
"""

from __future__ import annotations

import pytest
from cloudflare import Cloudflare

from mailops.dns.plan import apply_plan, make_plan
from mailops.dns.providers.base import ApplyError
from mailops.inventory import parse_mail_settings

pytestmark = pytest.mark.services


def settings(ttl=300, **example_extra):
    return parse_mail_settings({
        "hostname": "mx1.example.test", "ipv4": ["192.0.2.10"],
        "domains": {"example.test": {"dns": {"provider": "cloudflare", "ttl": ttl},
                                     **example_extra}}})


def changes(plans):
    return [c for p in plans for c in p.changes]


def sdk(api):
    return Cloudflare(api_token=api.token, base_url=api.base_url, max_retries=0)


def stored(api, name, rdtype):
    zid = api.zone_id("example.test")
    return [r for r in api.records[zid].values() if r["name"] == name and r["type"] == rdtype]


def test_a_proxied_mail_host_is_a_change_with_its_reason_and_apply_makes_it_dns_only(
        cloudflare_api):
    apply_plan(make_plan([settings()], {}))
    (a,) = stored(cloudflare_api, "mx1.example.test", "A")
    sdk(cloudflare_api).dns.records.edit(a["id"], zone_id=a["zone_id"], type="A",
                                         name=a["name"], content=a["content"], ttl=a["ttl"],
                                         proxied=True)
    (c,) = changes(make_plan([settings()], {}))
    assert (c.action, c.name, c.type) == ("update", "mx1.example.test", "A")
    assert c.before == c.after == ("192.0.2.10",)
    assert any("proxied" in n and "SMTP" in n for n in c.notes)
    apply_plan(make_plan([settings()], {}))
    (a,) = stored(cloudflare_api, "mx1.example.test", "A")
    assert a["proxied"] is False
    assert changes(make_plan([settings()], {})) == []


def test_the_ttl_is_compared_per_record_so_a_foreign_auto_ttl_record_never_unsettles_it(
        cloudflare_api):
    zid = cloudflare_api.zone_id("example.test")
    # Listed before and after ours (the listing sorts by content): neither may decide our TTL.
    sdk(cloudflare_api).dns.records.create(zone_id=zid, name="example.test", type="TXT",
                                           content='"google-site-verification=x"', ttl=3600)
    sdk(cloudflare_api).dns.records.create(zone_id=zid, name="example.test", type="TXT",
                                           content='"zoho-verification=zb42"', ttl=1)
    apply_plan(make_plan([settings(ttl=600)], {}))
    writes = len(cloudflare_api.writes)
    for _ in range(2):  # the plan settles: later applies write nothing
        assert apply_plan(make_plan([settings(ttl=600)], {})) == 0
    assert changes(make_plan([settings(ttl=600)], {})) == []
    assert len(cloudflare_api.writes) == writes
    (spf,) = [r for r in stored(cloudflare_api, "example.test", "TXT") if "spf1" in r["content"]]
    assert spf["ttl"] == 600


def test_an_auto_ttl_on_our_own_record_counts_as_300_seconds(cloudflare_api):
    apply_plan(make_plan([settings()], {}))  # default TTL 300
    (mx,) = stored(cloudflare_api, "example.test", "MX")
    sdk(cloudflare_api).dns.records.edit(mx["id"], zone_id=mx["zone_id"], type="MX",
                                         name=mx["name"], content=mx["content"],
                                         priority=mx["priority"], ttl=1)
    assert changes(make_plan([settings()], {})) == []


def test_txt_content_stored_without_quotes_is_read_as_the_same_value(cloudflare_api):
    zid = cloudflare_api.zone_id("example.test")
    sdk(cloudflare_api).dns.records.create(zone_id=zid, name="_dmarc.example.test", type="TXT",
                                           ttl=300, content="v=DMARC1; p=reject; "
                                           "rua=mailto:postmaster@example.test; adkim=s; "
                                           "aspf=s; pct=100")
    (stored_dmarc,) = stored(cloudflare_api, "_dmarc.example.test", "TXT")
    assert not stored_dmarc["content"].startswith('"')  # kept as given, like Cloudflare
    assert [c.name for c in changes(make_plan([settings()], {}))
            if c.name == "_dmarc.example.test"] == []
    assert cloudflare_api.bind.txt("_dmarc.example.test")[0][0].startswith(b"v=DMARC1; p=reject")


def test_email_routing_records_are_shown_blocked_and_the_rest_is_applied_in_one_request(
        cloudflare_api):
    cloudflare_api.enable_email_routing("example.test")
    plans = make_plan([settings()], {})
    blocked = {(c.name, c.type): c.blocked for c in changes(plans) if c.blocked}
    assert set(blocked) == {("example.test", "MX"), ("example.test", "TXT")}
    assert all("Email Routing" in why and "Disable" in why for why in blocked.values())
    writes = len(cloudflare_api.writes)
    with pytest.raises(ApplyError) as e:
        apply_plan(plans)
    assert "example.test MX: not written" in str(e.value)
    assert len(cloudflare_api.writes) == writes + 1  # one batch, not a half-done series
    assert cloudflare_api.bind.txt("_dmarc.example.test")  # the rest is published
    assert sorted(str(r) for r in cloudflare_api.bind.rrset("example.test", "MX")) == [
        "10 route1.mx.cloudflare.net.", "20 route2.mx.cloudflare.net.",
        "30 route3.mx.cloudflare.net."]


def test_changing_a_record_keeps_the_tags_and_comment_set_in_the_dashboard(cloudflare_api):
    apply_plan(make_plan([settings()], {}))
    (dmarc,) = stored(cloudflare_api, "_dmarc.example.test", "TXT")
    sdk(cloudflare_api).dns.records.edit(dmarc["id"], zone_id=dmarc["zone_id"], type="TXT",
                                         name=dmarc["name"], content=dmarc["content"],
                                         ttl=dmarc["ttl"], tags=["team:mail"],
                                         comment="owned by the mail team")
    apply_plan(make_plan([settings(dmarc={"policy": "quarantine"})], {}))
    (dmarc,) = stored(cloudflare_api, "_dmarc.example.test", "TXT")
    assert "p=quarantine" in dmarc["content"]
    assert dmarc["tags"] == ["team:mail"] and dmarc["comment"] == "owned by the mail team"


def test_the_zone_is_read_in_large_pages(cloudflare_api):
    make_plan([settings()], {})
    pages = [q for m, p, q in cloudflare_api.calls if m == "GET" and p.endswith("/dns_records")]
    assert pages and all(int(q["per_page"]) > 100 for q in pages)
