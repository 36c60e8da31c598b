"""DNS as code through the official Cloudflare SDK against the local API stand-in.

The stand-in mirrors every change into a real BIND, so what the SDK published
is checked with real DNS queries, not by reading the fake's memory.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mailops.cli import app
from mailops.dns.plan import apply_plan, make_plan
from mailops.dns.providers.base import ProviderError
from mailops.inventory import parse_mail_settings

pytestmark = pytest.mark.services

LONG_DKIM = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9 + "IDAQAB"


def raw_settings(**example_extra):
    return {"hostname": "mx1.example.test", "ipv4": ["192.0.2.10"],
            "domains": {"example.test": {"dns": {"provider": "cloudflare"}, **example_extra},
                        "tenant2.test": {"dns": {"provider": "cloudflare"}}}}


def settings(**example_extra):
    return parse_mail_settings(raw_settings(**example_extra))


def changes(plans):
    return [c for p in plans for c in p.changes]


def test_apply_through_the_sdk_publishes_records_that_dns_serves(cloudflare_api):
    apply_plan(make_plan([settings()], {"example.test": [("s202611a", LONG_DKIM)]}))
    bind = cloudflare_api.bind
    assert str(bind.rrset("example.test", "MX")[0]) == "10 mx1.example.test."
    assert bind.txt("_smtp._tls.tenant2.test") == [
        [b"v=TLSRPTv1; rua=mailto:postmaster@tenant2.test"]]
    assert str(bind.rrset("mx1.example.test", "A")[0]) == "192.0.2.10"


def test_a_long_dkim_key_is_one_cloudflare_record_and_one_dns_record_of_several_strings(
        cloudflare_api):
    apply_plan(make_plan([settings()], {"example.test": [("s202611a", LONG_DKIM)]}))
    zid = cloudflare_api.zone_id("example.test")
    stored = [r for r in cloudflare_api.records[zid].values()
              if r["name"] == "s202611a._domainkey.example.test"]
    assert len(stored) == 1 and stored[0]["content"].count('" "') == 1
    (strings,) = cloudflare_api.bind.txt("s202611a._domainkey.example.test")
    assert len(strings) == 2 and b"".join(strings).decode() == LONG_DKIM


def test_an_unchanged_plan_makes_zero_write_calls(cloudflare_api):
    dkim = {"example.test": [("s202611a", LONG_DKIM)]}
    apply_plan(make_plan([settings()], dkim))
    writes = len(cloudflare_api.writes)
    plans = make_plan([settings()], dkim)
    assert changes(plans) == []
    assert apply_plan(plans) == 0
    assert len(cloudflare_api.writes) == writes


def test_a_changed_setting_is_one_patch_in_place_in_one_batch_request(cloudflare_api):
    apply_plan(make_plan([settings()], {}))
    plans = make_plan([settings(spf={"ip4": ["198.51.100.7"]})], {})
    (c,) = changes(plans)
    assert (c.action, c.name, c.type) == ("update", "example.test", "TXT")
    writes = len(cloudflare_api.writes)
    apply_plan(plans)
    zid = cloudflare_api.zone_id("example.test")
    assert [w[:2] for w in cloudflare_api.writes[writes:]] == [
        ("POST", f"/client/v4/zones/{zid}/dns_records/batch")]
    assert cloudflare_api.bind.txt("example.test") == [[b"v=spf1 mx ip4:198.51.100.7 -all"]]
    assert changes(make_plan([settings(spf={"ip4": ["198.51.100.7"]})], {})) == []


def test_records_on_later_pages_of_a_big_zone_are_seen(cloudflare_api):
    from cloudflare import Cloudflare

    cf = Cloudflare(api_token=cloudflare_api.token, base_url=cloudflare_api.base_url,
                    max_retries=0)
    zid = cloudflare_api.zone_id("example.test")
    for i in range(120):  # more than one page of 100 before mailops's records
        cf.dns.records.create(zone_id=zid, name=f"aaa{i:03d}.example.test", type="A",
                              content="192.0.2.99", ttl=300)
    apply_plan(make_plan([settings()], {}))
    assert changes(make_plan([settings()], {})) == []
    pages = [q.get("page", "1") for m, p, q in cloudflare_api.calls
             if m == "GET" and p.endswith(f"{zid}/dns_records")]
    assert "2" in pages


def test_a_verification_txt_at_the_apex_is_left_alone(cloudflare_api):
    from cloudflare import Cloudflare

    cf = Cloudflare(api_token=cloudflare_api.token, base_url=cloudflare_api.base_url,
                    max_retries=0)
    cf.dns.records.create(zone_id=cloudflare_api.zone_id("example.test"), name="example.test",
                          type="TXT", content='"google-site-verification=x"', ttl=300)
    apply_plan(make_plan([settings()], {}))
    assert sorted(cloudflare_api.bind.txt("example.test")) == [
        [b"google-site-verification=x"], [b"v=spf1 mx -all"]]


def test_a_selector_mailops_published_is_recognised_as_its_own_when_retired(cloudflare_api):
    apply_plan(make_plan([settings()], {"example.test": [("s202610a", "v=DKIM1; p=OLD")]}))
    (c,) = [c for c in changes(make_plan([settings()], {})) if c.action == "delete"]
    assert (c.name, c.owned) == ("s202610a._domainkey.example.test", True)  # comment marker


# --------------------------------------------------------------------------- errors


def run_plan(tmp_path):
    path = tmp_path / "inventory.py"
    raw = {**raw_settings(), "keystore": str(tmp_path / "keystore")}
    path.write_text(f"mail = [('mx1.example.test', {{'mailops': {raw!r}}})]\n")
    return CliRunner().invoke(app, ["dns", "plan", "-i", str(path)])


def test_a_malformed_token_exits_1_with_cloudflares_6003_6111_and_what_a_token_is(
        cloudflare_api, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "Bearer not-the-token-0123456789")
    r = run_plan(tmp_path)
    assert r.exit_code == 1
    assert "HTTP 400" in r.output and "code 6003" in r.output and "code 6111" in r.output
    assert "is not a Cloudflare API token" in r.output and "CLOUDFLARE_API_TOKEN" in r.output
    assert "not-the-token-0123456789" not in r.output and "Traceback" not in r.output


def test_an_unknown_token_exits_1_saying_it_is_not_valid(cloudflare_api, tmp_path,
                                                          monkeypatch):
    wrong = "x" * 40
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", wrong)
    r = run_plan(tmp_path)
    assert r.exit_code == 1
    assert "HTTP 403" in r.output and "code 9109" in r.output and "not valid" in r.output
    assert "Zone → Zone → Read and Zone → DNS → Edit" in r.output and wrong not in r.output


def test_a_token_without_dns_edit_fails_the_apply_naming_the_permission(cloudflare_api):
    plans = make_plan([settings()], {})
    cloudflare_api.set_permissions("#zone:read", "#dns_records:read")
    with pytest.raises(ProviderError) as e:
        apply_plan(plans)
    assert "code 10000" in str(e.value) and "Zone → DNS → Edit" in str(e.value)
    assert cloudflare_api.records[cloudflare_api.zone_id("example.test")] == {}


def test_a_token_without_zone_read_is_told_it_needs_zone_read(cloudflare_api, tmp_path):
    cloudflare_api.set_permissions("#dns_records:read", "#dns_records:edit")
    r = run_plan(tmp_path)
    assert r.exit_code == 1
    assert "lists no zone example.test" in r.output and "Zone → Zone → Read" in r.output


def test_a_zone_missing_from_the_account_exits_1_naming_it(cloudflare_api, tmp_path):
    cloudflare_api.remove_zone("example.test")
    r = run_plan(tmp_path)
    assert r.exit_code == 1
    assert "no zone example.test" in r.output


def test_only_the_active_zone_of_that_name_is_used(cloudflare_api, tmp_path):
    cloudflare_api.add_zone("example.test", status="pending")  # e.g. in another account
    apply_plan(make_plan([settings()], {}))
    active = cloudflare_api.zone_id("example.test")
    assert any(r["type"] == "MX" for r in cloudflare_api.records[active].values())
    cloudflare_api.remove_zone("example.test")  # the active one goes; the pending one stays
    r = run_plan(tmp_path)
    assert r.exit_code == 1 and "is pending, not active" in r.output


def test_a_rate_limit_is_waited_out_with_a_visible_note(cloudflare_api, capsys):
    cloudflare_api.rate_limit(next_requests=1, retry_after=1)
    plans = make_plan([settings()], {})
    assert "rate limit reached" in capsys.readouterr().err
    cloudflare_api.rate_limit(after_writes=0, retry_after=1)  # the batch itself is 429'd once
    apply_plan(plans)
    assert "waiting 1s as its Retry-After says" in capsys.readouterr().err
    assert changes(make_plan([settings()], {})) == []


def test_a_rate_limit_longer_than_cloudflares_window_exits_1_saying_to_wait(
        cloudflare_api, tmp_path):
    cloudflare_api.rate_limit(next_requests=1, retry_after=3600)
    r = run_plan(tmp_path)
    assert r.exit_code == 1
    assert "HTTP 429" in r.output and "1200 requests per 5 minutes" in r.output
