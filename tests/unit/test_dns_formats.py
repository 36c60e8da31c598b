"""TXT splitting, Cloudflare quoting, zone fragment, TSIG and name-server settings."""

from __future__ import annotations

import dns.zone
import pytest

from mailops.dns.providers.base import ProviderError, join_txt, quote_txt, split_txt
from mailops.dns.providers.cloudflare import unquote_txt
from mailops.dns.providers.rfc2136 import Rfc2136Provider, parse_tsig
from mailops.dns.records import records_for
from mailops.dns.wait import parse_servers
from mailops.dns.zonefile import render
from mailops.inventory import DnsProvider, parse_mail_settings

LONG = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9 + "IDAQAB"


def test_a_txt_value_over_255_bytes_becomes_several_strings_of_one_record():
    strings = split_txt(LONG)
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings)
    assert join_txt(strings) == LONG


def test_a_short_txt_value_is_one_string():
    assert split_txt("v=spf1 mx -all") == [b"v=spf1 mx -all"]


def test_cloudflare_content_is_quoted_255_byte_strings_and_reads_back_whole():
    content = quote_txt(LONG)
    assert content.startswith('"v=DKIM1;') and content.count('" "') == 1
    assert unquote_txt(content) == LONG


def test_cloudflare_quoting_escapes_quotes_and_backslashes():
    assert unquote_txt(quote_txt('a "b" \\c')) == 'a "b" \\c'
    assert unquote_txt('"v=spf1 " "mx -all"') == "v=spf1 mx -all"
    assert unquote_txt("v=spf1 mx -all") == "v=spf1 mx -all"  # legacy bare content
    assert unquote_txt(r'"a\059b"') == "a;b"


def test_zone_fragment_puts_each_reason_before_its_record_and_parses_as_a_zone():
    s = parse_mail_settings({"hostname": "mx1.example.test", "ipv4": ["192.0.2.10"],
                             "domains": {"example.test": {}}})
    text = render(records_for(s, {"example.test": [("s1", LONG)]}))
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith(";"):
            assert lines[i - 1].startswith("; [") or not lines[i - 1].startswith(";") and \
                lines[i - 1]  # reason line precedes the first value of each record
    zone = dns.zone.from_text("$TTL 300\n@ SOA ns. h. 1 1 1 1 1\n@ NS ns.\n" + text,
                              origin="example.test", relativize=False)
    txt = zone.find_rdataset("s1._domainkey.example.test.", "TXT")
    assert len(txt) == 1 and join_txt(next(iter(txt)).strings) == LONG
    assert "; [required] receivers deliver mail for example.test" in text


def test_tsig_setting_of_the_wrong_form_names_the_variable_not_the_secret():
    with pytest.raises(ProviderError) as e:
        parse_tsig("key:hmac-sha256", "MAILOPS_TSIG", "example.test")
    assert "MAILOPS_TSIG" in str(e.value) and "example.test" in str(e.value)
    with pytest.raises(ProviderError) as e:
        parse_tsig("key:hmac-nope:c2VjcmV0LXNlY3JldA==", "MAILOPS_TSIG", "example.test")
    assert "c2VjcmV0LXNlY3JldA" not in str(e.value)


def test_a_missing_credential_says_which_variable_to_export():
    p = Rfc2136Provider(DnsProvider(kind="rfc2136", zone="example.test", server="127.0.0.1"),
                        "example.test", env={})
    with pytest.raises(ProviderError, match="export MAILOPS_TSIG="):
        p.read(["example.test"])


def test_name_server_overrides_accept_host_port_lists():
    assert parse_servers("127.0.0.1:5353, [::1]:5354,192.0.2.1") == [
        ("127.0.0.1", 5353), ("::1", 5354), ("192.0.2.1", 53)]
