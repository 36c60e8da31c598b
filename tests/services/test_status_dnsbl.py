"""The status mail's DNSBL check against a real BIND serving a blocklist zone.

The zone ``dnsbl.test`` on a BIND the test starts on loopback holds what real lists
answer: a listing (127.0.0.2 with a TXT reason), a Spamhaus refusal
(127.255.255.254, "query through a public resolver"), nothing; the host package's
own stub resolver asks it, as it asks the host's resolver on a mail host.
"""

from __future__ import annotations

import pytest
from bind import BindServer

from mailops.onhost.status import dnsbl
from mailops.onhost.status.findings import ERROR, OK, WARNING

pytestmark = pytest.mark.services

ZONE = "dnsbl.test"
DEAD = "dead.test"  # a list given up by its operator, now "listing" every address


@pytest.fixture(scope="module")
def blocklist(tmp_path_factory):
    with BindServer(tmp_path_factory.mktemp("named"), zones=(ZONE, DEAD)) as server:
        server.update(ZONE, [
            (f"2.2.0.192.{ZONE}", 60, "A", "127.0.0.2"),
            (f"2.2.0.192.{ZONE}", 60, "TXT", '"Listed: spam trap hits, see '
                                              'https://dnsbl.test/q?192.0.2.2"'),
            (f"3.2.0.192.{ZONE}", 60, "A", "127.255.255.254"),
        ])
        server.update(DEAD, [(f"*.{DEAD}", 60, "A", "127.0.0.2")])
        yield [("127.0.0.1", server.port)]


def test_a_listed_address_is_an_error_with_the_lists_reason(blocklist):
    f = dnsbl.check(ZONE, "192.0.2.2", blocklist)
    assert (f.check, f.level, f.state) == (f"dnsbl {ZONE} 192.0.2.2", ERROR, "listed 127.0.0.2")
    assert "LISTED" in f.text and "spam trap hits" in f.text


def test_an_address_not_in_the_zone_is_not_listed(blocklist):
    f = dnsbl.check(ZONE, "192.0.2.1", blocklist)
    assert (f.level, f.state) == (OK, "not listed")


def test_a_refused_query_is_a_warning_that_says_so_not_a_listing(blocklist):
    f = dnsbl.check(ZONE, "192.0.2.3", blocklist)
    assert (f.level, f.state) == (WARNING, "query refused 127.255.255.254")
    assert "public or open resolver" in f.text and "unknown" in f.text


def test_a_server_that_refuses_the_zone_is_a_failed_lookup_not_a_clean_bill(blocklist):
    # This BIND does not recurse: a zone it does not serve is REFUSED (RFC 1035 rcode 5).
    f = dnsbl.check("zen.spamhaus.example", "192.0.2.2", blocklist)
    assert (f.level, f.state) == (WARNING, "lookup failed")
    assert "REFUSED" in f.text


def test_a_list_that_lists_even_127_0_0_1_is_not_believed(blocklist):
    f = dnsbl.check(DEAD, "192.0.2.1", blocklist)
    assert (f.level, f.state) == (WARNING, "list answers for every address")
    assert "RFC 5782" in f.text
