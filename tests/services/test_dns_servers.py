"""One provider suite against the servers users run: BIND, Knot and PowerDNS (RFC 2136 + TSIG).

Every test runs against each server twice: with zone transfers refused to
the key (Knot's and PowerDNS's default, common hardening on BIND) and with
them allowed. What a test sees is what the real server serves afterwards.
"""

from __future__ import annotations

import base64

import pytest
from typer.testing import CliRunner

from mailops.cli import app
from mailops.dns.plan import apply_plan, make_plan
from mailops.dns.providers.base import ApplyError, ProviderError
from mailops.inventory import parse_mail_settings

pytestmark = pytest.mark.services

LONG_DKIM = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9 + "IDAQAB"


def raw_settings(server, ipv6=("2001:db8::10",), **example_extra):
    dns_cfg = {"provider": "rfc2136", "server": "127.0.0.1", "port": server.port}
    return {"hostname": "mx1.example.test", "ipv4": ["192.0.2.10"], "ipv6": list(ipv6),
            "domains": {"example.test": {"dns": dns_cfg, **example_extra},
                        "tenant2.test": {"dns": dns_cfg}}}


def settings(server, **kw):
    return parse_mail_settings(raw_settings(server, **kw))


def changes(plans):
    return [c for p in plans for c in p.changes]


def notes(plans):
    return [n for p in plans for n in p.notes]


def test_plan_apply_and_a_second_plan_with_zero_writes(dns_server):
    s = settings(dns_server)
    dkim = {"example.test": [("s202611a", LONG_DKIM)]}
    plans = make_plan([s], dkim)
    assert {c.action for c in changes(plans)} == {"create"}
    assert apply_plan(plans) == len(changes(plans))
    assert str(dns_server.rrset("example.test", "MX")[0]) == "10 mx1.example.test."
    assert str(dns_server.rrset("mx1.example.test", "AAAA")[0]) == "2001:db8::10"
    (strings,) = dns_server.txt("s202611a._domainkey.example.test")  # ONE record
    assert len(strings) == 2 and b"".join(strings).decode() == LONG_DKIM
    serial = dns_server.serial()  # every accepted update bumps the SOA serial
    again = make_plan([s], dkim)
    assert changes(again) == [] and apply_plan(again) == 0
    assert dns_server.serial() == serial


def test_how_the_zone_was_read_is_one_note_in_the_plan(dns_server):
    plans = make_plan([settings(dns_server)], {}, only=["example.test"])
    if dns_server.transfer:
        assert notes(plans) == []
    else:
        (note,) = notes(plans)
        assert "refused a zone transfer of example.test" in note and "one by one" in note
        assert "BIND: `allow-transfer { key mailops-test; };`" in note
        assert "Knot: `action: transfer`" in note and "TSIG-ALLOW-AXFR mailops-test" in note


def test_a_foreign_txt_at_the_apex_survives_and_spf_is_updated_in_place(dns_server):
    dns_server.update("example.test", [("example.test", 300, "TXT",
                                        '"google-site-verification=x"')])
    apply_plan(make_plan([settings(dns_server)], {}))
    apply_plan(make_plan([settings(dns_server, spf={"ip4": ["198.51.100.7"]})], {}))
    assert sorted(dns_server.txt("example.test")) == [
        [b"google-site-verification=x"], [b"v=spf1 mx ip4:198.51.100.7 -all"]]


def test_a_removed_address_is_deleted_and_the_plan_says_why(dns_server):
    apply_plan(make_plan([settings(dns_server)], {}))
    plans = make_plan([settings(dns_server, ipv6=())], {})
    (c,) = changes(plans)
    assert (c.action, c.name, c.type, c.before) == ("delete", "mx1.example.test", "AAAA",
                                                    ("2001:db8::10",))
    assert "no IPv6 address" in c.reason
    apply_plan(plans)
    assert dns_server.rrset("mx1.example.test", "AAAA") is None
    assert str(dns_server.rrset("mx1.example.test", "A")[0]) == "192.0.2.10"


def test_a_cname_beside_other_data_is_shown_blocked_and_apply_fails_naming_both(dns_server):
    dns_server.update("example.test", [("mta-sts.example.test", 300, "A", "192.0.2.50")])
    plans = make_plan([settings(dns_server)], {})
    (c,) = [c for c in changes(plans) if c.name == "mta-sts.example.test"]
    assert c.type == "CNAME" and "mta-sts.example.test A 192.0.2.50" in c.blocked
    assert "RFC 1034 §3.6.2" in c.blocked
    with pytest.raises(ApplyError) as e:
        apply_plan(plans)
    assert "mta-sts.example.test CNAME" in str(e.value) and "192.0.2.50" in str(e.value)
    # everything else was published; the conflict stays in the plan
    assert str(dns_server.rrset("example.test", "MX")[0]) == "10 mx1.example.test."
    assert [c.name for c in changes(make_plan([settings(dns_server)], {}))] == [
        "mta-sts.example.test"]


def test_a_change_the_server_does_not_take_fails_the_apply_naming_the_record(dns_server):
    plans = make_plan([settings(dns_server)], {})
    # Someone adds an address at the name between plan and apply: BIND and Knot
    # then drop the CNAME without an error, PowerDNS refuses the whole update.
    dns_server.update("example.test", [("mta-sts.example.test", 300, "A", "192.0.2.50")])
    with pytest.raises(ProviderError) as e:
        apply_plan(plans)
    text = str(e.value)
    if isinstance(e.value, ApplyError):
        assert "mta-sts.example.test CNAME mx1.example.test" in text
        assert "does not serve it" in text and "192.0.2.50" in text
    else:
        assert "REFUSED" in text and "CNAME beside other data" in text


def test_a_wrong_tsig_secret_is_a_clear_error_that_never_shows_a_secret(dns_server,
                                                                         monkeypatch):
    wrong = "mailops-test:hmac-sha256:" + base64.b64encode(b"x" * 32).decode()
    monkeypatch.setenv("MAILOPS_TSIG", wrong)
    with pytest.raises(ProviderError) as e:
        make_plan([settings(dns_server)], {})
    text = str(e.value)
    assert "MAILOPS_TSIG" in text
    assert wrong.split(":")[2] not in text and dns_server.secret not in text


@pytest.mark.parametrize("software", ["bind", "knot", "pdns"])
def test_a_key_the_zone_does_not_allow_gets_the_servers_answer_and_advice_for_each(
        software, tmp_path, monkeypatch):
    from conftest import SERVERS

    with SERVERS[software](tmp_path / software, transfer=False, update=False) as server:
        monkeypatch.setenv("MAILOPS_TSIG", server.tsig)
        plans = make_plan([settings(server)], {})
        with pytest.raises(ProviderError) as e:
            apply_plan(plans)
        assert server.serial() == (0 if software == "pdns" else 1)  # nothing written
    text = str(e.value)
    said = {"bind": "answered REFUSED", "knot": "TSIG error BADKEY",
            "pdns": "answered REFUSED"}[software]
    assert said in text, text
    assert "update-policy { grant mailops-test zonesub ANY; };" in text
    assert "`action: update`" in text and "TSIG-ALLOW-DNSUPDATE mailops-test" in text
    assert server.secret not in text


# --------------------------------------------------------------------------- as a user would


def inventory_file(server, tmp_path, **kw):
    raw = {**raw_settings(server, **kw), "keystore": str(tmp_path / "keystore")}
    inv = tmp_path / "inventory.py"
    inv.write_text(f"mail = [('mx1.example.test', {{'mailops': {raw!r}}})]\n")
    return str(inv)


def test_the_cli_shows_a_conflict_blocked_and_apply_exits_1_naming_both(dns_server, tmp_path):
    dns_server.update("example.test", [("mta-sts.example.test", 300, "A", "192.0.2.50")])
    inv = inventory_file(dns_server, tmp_path)
    r = CliRunner().invoke(app, ["dns", "plan", "-i", inv, "example.test"])
    assert r.exit_code == 2, r.output
    assert "x BLOCKED create mta-sts.example.test CNAME" in r.output
    assert "1 change(s) BLOCKED" in r.output
    r = CliRunner().invoke(app, ["dns", "apply", "-i", inv, "--yes", "example.test"])
    assert r.exit_code == 1, r.output
    assert "mta-sts.example.test CNAME: not written" in r.output
    assert "mta-sts.example.test A 192.0.2.50" in r.output and "Traceback" not in r.output
    assert str(dns_server.rrset("example.test", "MX")[0]) == "10 mx1.example.test."


def test_the_readme_steps_give_a_working_plan_against_a_default_knot(tmp_path, monkeypatch):
    """Knot as packaged, with the acl its documentation gives for TSIG updates and no
    transfer acl: plan (exit 2, one note), apply (exit 0), plan (exit 0)."""
    from knot import KnotServer

    with KnotServer(tmp_path / "knot", transfer=False) as knot:
        monkeypatch.setenv("MAILOPS_TSIG", knot.tsig)
        inv = inventory_file(knot, tmp_path)
        run = CliRunner().invoke
        r = run(app, ["dns", "plan", "-i", inv])
        assert r.exit_code == 2, r.output
        assert r.output.count("note: 127.0.0.1 port") == 2  # once per zone
        assert "+ create example.test MX" in r.output and "Traceback" not in r.output
        r = run(app, ["dns", "apply", "-i", inv, "--yes"])
        assert r.exit_code == 0, r.output
        r = run(app, ["dns", "plan", "-i", inv])
        assert r.exit_code == 0 and "No changes" in r.output, r.output
