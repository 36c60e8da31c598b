"""What mailops says for each refusal a DNS server or Cloudflare can give."""

from __future__ import annotations

import pytest

from mailops.dns.providers import rfc2136_advice as advice
from mailops.dns.providers.cloudflare_errors import explain


@pytest.mark.parametrize("rcode", ["NOTAUTH", "REFUSED", "NOTIMP"])
def test_a_refused_update_names_the_setting_on_bind_knot_and_powerdns(rcode):
    text = advice.todo(rcode, "mailops", "example.test", "MAILOPS_TSIG")
    assert "BIND: in the zone statement `update-policy { grant mailops zonesub ANY; };`" in text
    assert "Knot: an acl with `key: mailops` and `action: update`" in text
    assert "PowerDNS: `dnsupdate=yes`" in text
    assert "TSIG-ALLOW-DNSUPDATE mailops" in text


@pytest.mark.parametrize("rcode, says", [
    ("NOTZONE", "check dns.zone (example.test)"),
    ("YXRRSET", "run `mailops dns plan` again"),
    ("NXDOMAIN", "run `mailops dns plan` again"),
    ("SERVFAIL", "Knot a writable `storage`"),
])
def test_other_refusals_say_what_they_mean(rcode, says):
    assert rcode in advice.MEANING
    assert says in advice.todo(rcode, "mailops", "example.test", "MAILOPS_TSIG")


def envelope(code, message="m", chain=()):
    return {"success": False, "result": None, "messages": [],
            "errors": [{"code": code, "message": message,
                        **({"error_chain": list(chain)} if chain else {})}]}


@pytest.mark.parametrize("status, body, says", [
    (400, envelope(6003, "Invalid request headers", [{"code": 6111, "message": "Invalid format"}]),
     "is not a Cloudflare API token"),
    (403, envelope(9109, "Invalid access token"), "is not valid"),
    (403, envelope(10000, "Authentication error"), "lacks a permission"),
    (400, envelope(81053), "cannot share its name"),
    (400, envelope(81054), "cannot share its name"),
    (400, envelope(81058), "already exists"),
    (400, envelope(1004, "managed by Email Routing"), "disable Email Routing"),
    (400, envelope(9021), "TTL between 60 and 86400"),
])
def test_cloudflare_error_codes_become_what_to_fix(status, body, says):
    what, todo = explain(status, body, "publishing", "CLOUDFLARE_API_TOKEN", "example.test")
    assert f"HTTP {status}" in what and f"code {body['errors'][0]['code']}" in what
    assert says in todo
    if status == 400 and body["errors"][0]["code"] == 6003:
        assert "code 6111" in what  # the detail Cloudflare puts in error_chain
