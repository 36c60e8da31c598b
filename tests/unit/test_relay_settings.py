"""Relays (smarthosts): the inventory keys, the Postfix routes and tables they become, the
SPF they add and the verdicts of `mailops check` — without a host."""

from __future__ import annotations

import pytest

from mailops.checks.relay import auth_verdict, queue_verdict, spf_verdict
from mailops.dns.records import records_for
from mailops.inventory import SettingsError, parse_mail_settings
from mailops.services import relay
from mailops.services.opendkim import opendkim_context
from mailops.services.postfix import postfix_context
from mailops.services.render import render

SES = {"host": "email-smtp.eu-west-1.amazonaws.com", "spf_include": "amazonses.com"}
POSTMARK = {"host": "smtp.postmarkapp.com", "port": 465, "username_env": "PM_USER",
            "password_env": "PM_PASSWORD", "spf_include": "spf.mtasv.net"}


def settings(top=None, **domains):
    raw = {"hostname": "mx1.example.com",
           "domains": {"example.com": {}, "shop.example": {}, "own.example": {}}}
    for name, value in domains.items():
        raw["domains"][name.replace("_", ".")] = {"relay": value}
    if top is not None:
        raw["relay"] = top
    return parse_mail_settings(raw)


def problems(**kw) -> str:
    with pytest.raises(SettingsError) as e:
        settings(**kw)
    return str(e.value)


def test_without_a_relay_nothing_changes_for_postfix_or_opendkim():
    s = settings()
    assert relay.routes(s) == []
    main = render("postfix/main.cf.j2", **postfix_context(s))
    assert "\ndefault_transport =" not in main
    assert "\nsender_dependent_default_transport_maps =" not in main
    assert "mailops-relay" not in render("postfix/master.cf.j2", **postfix_context(s))
    assert "OmitHeaders" not in render("opendkim/opendkim.conf.j2",
                                       **opendkim_context(s, {"example.com": "s1"}))


def test_a_top_level_relay_carries_all_mail_and_a_domain_may_opt_out_or_use_its_own():
    s = settings(SES, shop_example="direct", own_example=POSTMARK)
    ses, pm = relay.routes(s)
    assert relay.default_transport(s) == "mailops-relay-1:[email-smtp.eu-west-1.amazonaws.com]:587"
    assert dict(relay.sender_transport_map(s)) == {
        "@own.example": "mailops-relay-2:[smtp.postmarkapp.com]:465",
        "@shop.example": "smtp"}
    main = render("postfix/main.cf.j2", **postfix_context(s))
    assert f"default_transport = {ses.transport}" in main
    master = render("postfix/master.cf.j2", **postfix_context(s))
    ses_block = master.split("mailops-relay-1 unix")[1].split("mailops-relay-2 unix")[0]
    assert "smtp_tls_security_level=secure" in ses_block
    assert "smtp_tls_wrappermode" not in ses_block
    assert f"smtp_sasl_password_maps=texthash:{ses.sasl_file}" in ses_block
    pm_block = master.split("mailops-relay-2 unix")[1]
    assert "smtp_tls_wrappermode=yes" in pm_block and pm.sasl_file in pm_block


def test_a_recipient_domain_list_routes_by_recipient_and_leaves_the_rest_direct():
    s = settings({**SES, "recipient_domains": ["outlook.com", "hotmail.com"]})
    assert relay.default_transport(s) == "smtp"
    assert relay.sender_transport_map(s) == []
    transport = render("postfix/transport.j2", **postfix_context(s))
    for key in ("outlook.com", ".outlook.com", "hotmail.com", ".hotmail.com"):
        assert f"{key}\tmailops-relay-1:[email-smtp.eu-west-1.amazonaws.com]:587" in transport


def test_recipient_domains_belong_to_the_top_level_relay_only():
    out = problems(own_example={**POSTMARK, "recipient_domains": ["outlook.com"]})
    assert "mailops.domains.own.example.relay.recipient_domains" in out
    assert "mailops.relay.recipient_domains" in out


@pytest.mark.parametrize(("value", "key", "expected"), [
    ({"host": "smtp.x.com", "port": 25}, "relay.port", "587, 465"),
    ({"host": "Not A Name"}, "relay.host", "domain name"),
    ({"host": "smtp.x.com", "password": "hunter2"}, "relay.password", "unknown key"),
    ({"host": "smtp.x.com", "password_env": "hunter2 !"}, "relay.password_env", "(not shown)"),
    ({"host": "smtp.x.com", "username_env": "A", "password_env": "A"}, "relay.password_env",
     "two environment variables"),
    ("directly", "relay", "'direct'"),
])
def test_a_bad_relay_value_is_named_with_what_was_expected(value, key, expected):
    out = problems(own_example=value)
    assert f"mailops.domains.own.example.{key}" in out and expected in out
    assert "hunter2" not in out


def test_a_missing_credential_names_the_key_and_the_variable_never_a_value():
    s = settings(SES, own_example=POSTMARK)
    env = {"MAILOPS_RELAY_USER": "AKIAEXAMPLE", "MAILOPS_RELAY_PASSWORD": "s3cret",
           "PM_USER": "token"}
    lines = relay.missing_credentials(s, env)
    assert lines == [
        "mailops.domains.own.example.relay.password_env: found no $PM_PASSWORD in the "
        "environment; expected the relay smtp.postmarkapp.com's SASL password in $PM_PASSWORD"
        " — export PM_PASSWORD=... and deploy again"]
    with pytest.raises(SettingsError) as e:
        relay.check_sasl_values(s, {**env, "PM_PASSWORD": "two\nlines"})
    assert "two" not in str(e.value) and "password_env" in str(e.value)


def test_spf_gains_the_include_of_every_relay_a_domain_sends_through():
    s = settings(SES, shop_example="direct", own_example=POSTMARK)
    spf = {r.name: r for r in records_for(s, {}) if r.type == "TXT" and r.match == "v=spf1"}
    assert "v=spf1 mx include:amazonses.com -all" in spf["example.com"].values[0]
    assert "amazonses.com" in spf["example.com"].reason
    assert "include:" not in spf["shop.example"].values[0]
    assert "include:spf.mtasv.net" in spf["own.example"].values[0]
    assert "amazonses.com" not in spf["own.example"].values[0]


def test_relay_includes_count_towards_the_ten_lookup_limit():
    raw = {"hostname": "mx1.example.com", "relay": SES,
           "domains": {"example.com": {"spf": {"include": [f"i{n}.example.net"
                                                          for n in range(9)]}}}}
    with pytest.raises(SettingsError, match="spf.include"):
        parse_mail_settings(raw)


def test_with_a_relay_opendkim_leaves_out_the_headers_ses_rewrites():
    s = settings(SES)
    conf = render("opendkim/opendkim.conf.j2", **opendkim_context(s, {"example.com": "s1"}))
    assert "OmitHeaders\t\t*,+Message-ID,+Date" in conf


def test_check_verdicts():
    assert auth_verdict(235, "Authentication succeeded", "u")[0] == "ok"
    status, found = auth_verdict(535, "Incorrect authentication data", "u")
    assert status == "fail" and "535 Incorrect" in found
    route = relay.routes(settings(SES))[0]
    q = [{"recipients": [{"address": "x@remote.test", "delay_reason":
                          "SASL authentication failed; server email-smtp.eu-west-1.amazonaws.com"
                          "[1.2.3.4] said: 535 Authentication Credentials Invalid"}]}]
    status, found = queue_verdict(q, route)
    assert status == "fail" and "535 Authentication Credentials Invalid" in found
    assert queue_verdict([], route)[0] == "ok"
    inc = "v=spf1 ip4:10.0.0.0/24 -all"
    assert spf_verdict("v=spf1 mx include:r.test -all", "r.test", inc, ["10.0.0.5"])[0] == "ok"
    assert spf_verdict("v=spf1 mx -all", "r.test", inc, ["10.0.0.5"])[0] == "fail"
    assert spf_verdict("v=spf1 include:r.test -all", "r.test", inc, ["10.9.0.5"])[0] == "fail"
