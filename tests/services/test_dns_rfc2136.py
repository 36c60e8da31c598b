"""DNS as code against a real BIND: the command line, DKIM verification, checkdmarc, wait.

The provider behaviour shared by BIND, Knot and PowerDNS is in test_dns_servers.py.
"""

from __future__ import annotations

import base64
import json

import checkdmarc.dmarc
import checkdmarc.smtp_tls_reporting
import checkdmarc.spf
import dkim
import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from mailops.cli import app
from mailops.dns.plan import apply_plan, make_plan
from mailops.dns.providers.base import ProviderError
from mailops.dns.records import records_for
from mailops.dns.wait import WaitError, wait_for
from mailops.inventory import parse_mail_settings

pytestmark = pytest.mark.services


def raw_settings(bind, **example_extra):
    dns_cfg = {"provider": "rfc2136", "server": "127.0.0.1", "port": bind.port}
    return {
        "hostname": "mx1.example.test",
        "ipv4": ["192.0.2.10"],
        "domains": {"example.test": {"dns": dns_cfg, **example_extra},
                    "tenant2.test": {"dns": dns_cfg}},
    }


def settings(bind, **example_extra):
    return parse_mail_settings(raw_settings(bind, **example_extra))


def serial(bind, zone="example.test"):
    return bind.rrset(zone, "SOA")[0].serial


def changes(plans):
    return [c for p in plans for c in p.changes]


def rsa_dkim():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def test_apply_publishes_every_record_and_a_second_plan_finds_nothing_to_do(bind_env):
    s = settings(bind_env)
    apply_plan(make_plan([s], {}))
    assert changes(make_plan([s], {})) == []
    assert str(bind_env.rrset("example.test", "MX")[0]) == "10 mx1.example.test."
    assert bind_env.txt("example.test") == [[b"v=spf1 mx -all"]]
    assert bind_env.rrset("mta-sts.tenant2.test", "CNAME")[0].target.to_text() == \
        "mx1.example.test."


def test_an_unchanged_plan_writes_nothing(bind_env):
    s = settings(bind_env)
    apply_plan(make_plan([s], {}))
    before = serial(bind_env)  # every accepted RFC 2136 update bumps the SOA serial
    assert apply_plan(make_plan([s], {})) == 0
    assert serial(bind_env) == before


def test_a_changed_setting_plans_exactly_that_change_and_dns_then_serves_it(bind_env):
    apply_plan(make_plan([settings(bind_env)], {}))
    changed = settings(bind_env, dmarc={"policy": "quarantine"})
    (c,) = changes(make_plan([changed], {}))
    assert (c.action, c.name) == ("update", "_dmarc.example.test")
    apply_plan(make_plan([changed], {}))
    assert bind_env.txt("_dmarc.example.test") == [[
        b"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test; adkim=s; aspf=s; pct=100"]]
    assert changes(make_plan([changed], {})) == []


def test_changing_the_mta_sts_mode_publishes_a_new_policy_id(bind_env):
    apply_plan(make_plan([settings(bind_env)], {}))
    old = bind_env.txt("_mta-sts.example.test")
    enforce = settings(bind_env, mta_sts={"mode": "enforce"})
    assert [(c.action, c.name) for c in changes(make_plan([enforce], {}))] == [
        ("update", "_mta-sts.example.test")]
    apply_plan(make_plan([enforce], {}))
    new = bind_env.txt("_mta-sts.example.test")
    assert new != old and new[0][0].startswith(b"v=STSv1; id=")


def test_a_long_dkim_key_is_one_record_of_several_strings_that_verifies_a_signature(bind_env):
    pem, txt = rsa_dkim()
    assert len(txt) > 255
    apply_plan(make_plan([settings(bind_env)], {"example.test": [("s202611a", txt)]}))
    (strings,) = bind_env.txt("s202611a._domainkey.example.test")  # ONE record
    assert len(strings) == 2 and b"".join(strings).decode() == txt

    msg = (b"From: alice@example.test\r\nTo: bob@tenant2.test\r\nSubject: hi\r\n"
           b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n"
           b"\r\nHello.\r\n")
    signed = dkim.sign(msg, b"s202611a", b"example.test", pem,
                       include_headers=[b"from", b"to", b"subject", b"date"]) + msg

    def dnsfunc(name, timeout=5):
        (record,) = bind_env.txt(name.decode().rstrip("."))
        return b"".join(record)

    assert dkim.verify(signed, dnsfunc=dnsfunc)


def test_checkdmarc_finds_the_published_spf_dmarc_and_tlsrpt_valid(bind_env):
    apply_plan(make_plan([settings(bind_env)], {}))
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = bind_env.port
    spf = checkdmarc.spf.check_spf("example.test", resolver=resolver)
    assert spf["valid"], spf
    assert spf["record"] == "v=spf1 mx -all"
    dmarc = checkdmarc.dmarc.check_dmarc("example.test", resolver=resolver)
    assert dmarc["valid"], dmarc
    assert dmarc["tags"]["p"]["value"] == "reject"
    rpt = checkdmarc.smtp_tls_reporting.check_smtp_tls_reporting("example.test",
                                                                 resolver=resolver)
    assert rpt["valid"], rpt


def test_a_retired_selector_is_deleted_but_a_foreign_one_is_kept_unless_forced(bind_env):
    s = settings(bind_env)
    bind_env.update("example.test", [
        ("s202610a._domainkey.example.test", 300, "TXT", '"v=DKIM1; p=OLD"'),
        ("google._domainkey.example.test", 300, "TXT", '"v=DKIM1; p=GOOG"')])
    known = {"example.test": {"s202610a"}}
    plans = make_plan([s], {}, known_selectors=known)
    deletes = {c.name: c.owned for c in changes(plans) if c.action == "delete"}
    assert deletes == {"s202610a._domainkey.example.test": True,
                       "google._domainkey.example.test": False}
    apply_plan(plans)
    assert bind_env.txt("s202610a._domainkey.example.test") == []
    assert bind_env.txt("google._domainkey.example.test") == [[b"v=DKIM1; p=GOOG"]]
    apply_plan(make_plan([s], {}, known_selectors=known), force=True)
    assert bind_env.txt("google._domainkey.example.test") == []


def test_an_unreachable_server_is_a_clear_error(bind_env):
    raw = raw_settings(bind_env)
    for d in raw["domains"].values():
        d["dns"]["port"] = bind_env.port + 1 if bind_env.port < 65535 else bind_env.port - 1
    with pytest.raises(ProviderError, match="name server 127.0.0.1 port"):
        make_plan([parse_mail_settings(raw)], {})


def test_wait_returns_once_the_servers_serve_the_records_and_reports_progress(bind_env):
    s = settings(bind_env)
    apply_plan(make_plan([s], {}))
    seen = []
    wait_for(records_for(s, {}), timeout=5, progress=seen.append)
    assert seen[-1].ready == seen[-1].total > 0 and seen[-1].waiting == ()


def test_wait_times_out_naming_what_is_not_served(bind_env):
    with pytest.raises(WaitError, match="_dmarc.example.test TXT @ 127.0.0.1"):
        wait_for(records_for(settings(bind_env), {}), timeout=0.3, interval=0.1)


# --------------------------------------------------------------------------- the command


@pytest.fixture
def inventory(bind_env, tmp_path):
    def write(**example_extra):
        raw = raw_settings(bind_env, **example_extra)
        raw["keystore"] = str(tmp_path / "keystore")
        path = tmp_path / "inventory.py"
        path.write_text(f"mail = [({'mx1.example.test'!r}, {{'mailops': {raw!r}}})]\n")
        return str(path)
    return write


def run(*args):
    return CliRunner().invoke(app, ["dns", *args])


def test_plan_exits_2_with_changes_apply_publishes_and_plan_then_exits_0(inventory, bind_env):
    inv = inventory()
    r = run("plan", "-i", inv)
    assert r.exit_code == 2, r.output
    assert "+ create example.test MX" in r.output and "\x1b[" not in r.output  # no tty, no colour
    assert "# receivers deliver mail for example.test" in r.output
    r = run("apply", "-i", inv, "--yes")
    assert r.exit_code == 0, r.output
    assert "Applied" in r.output
    r = run("plan", "-i", inv)
    assert r.exit_code == 0, r.output
    assert "No changes" in r.output


def test_plan_json_lists_each_change_for_machines(inventory):
    r = run("plan", "-i", inventory(), "--json", "tenant2.test")
    assert r.exit_code == 2
    data = json.loads(r.output)
    keys = {(c["name"], c["type"]) for z in data["zones"] for c in z["changes"]}
    assert ("tenant2.test", "MX") in keys and not any(n.endswith("example.test") for n, _ in keys)
    assert data["pending"] == len(keys) > 0


def test_apply_without_a_terminal_or_yes_changes_nothing(inventory, bind_env):
    before = serial(bind_env)
    r = run("apply", "-i", inventory())
    assert r.exit_code == 1 and "--yes" in r.output
    assert serial(bind_env) == before


def test_apply_then_wait_reports_every_record_served(inventory):
    r = run("apply", "-i", inventory(), "--yes", "--wait", "--timeout", "10")
    assert r.exit_code == 0, r.output
    assert "served by every authoritative name server" in r.output


def test_zone_prints_a_commented_fragment(inventory):
    r = run("zone", "-i", inventory(), "example.test")
    assert r.exit_code == 0
    assert "; [required] SPF" in r.output and 'example.test.\t300\tIN\tTXT\t"v=spf1 mx -all"' \
        in r.output
    assert "tenant2.test" not in r.output.replace("mailto:", "")


def test_a_missing_tsig_variable_exits_1_with_what_to_export(inventory, monkeypatch):
    monkeypatch.delenv("MAILOPS_TSIG")
    r = run("plan", "-i", inventory())
    assert r.exit_code == 1
    assert "MAILOPS_TSIG is not set" in r.output and "Traceback" not in r.output


def test_an_invalid_inventory_exits_1_with_the_settings_problem(inventory):
    r = run("plan", "-i", inventory(dmarc={"policy": "maybe"}))
    assert r.exit_code == 1 and "dmarc.policy" in r.output
