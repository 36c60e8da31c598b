"""The daily status mail's logic: DNSBL answers, findings, the digest, the queue, rates."""

from __future__ import annotations

import dns.message
import dns.rcode
import dns.rrset
import pytest

from mailops.inventory import SettingsError, parse_mail_settings
from mailops.onhost.status import dnsbl, dnsquery, rates, system
from mailops.onhost.status.findings import ERROR, OK, WARNING, Finding, changes, digest

# --------------------------------------------------------------------------- DNSBL answers


@pytest.mark.parametrize(("answer", "level", "state"), [
    ([], OK, "not listed"),
    (["127.0.0.2"], ERROR, "listed 127.0.0.2"),
    (["127.0.0.4", "127.0.0.2"], ERROR, "listed 127.0.0.2 127.0.0.4"),
    # Spamhaus error codes: the query was refused, nothing is known about the address.
    (["127.255.255.254"], WARNING, "query refused 127.255.255.254"),
    (["127.255.255.255"], WARNING, "query refused 127.255.255.255"),
    (["127.255.255.252"], WARNING, "query refused 127.255.255.252"),
    # RFC 5782 §5: 127.0.0.1 is never a listing (URIBL answers it to refused queries).
    (["127.0.0.1"], WARNING, "query refused 127.0.0.1"),
    # Outside 127/8: an NXDOMAIN-rewriting resolver, not a list.
    (["198.51.100.7"], WARNING, "unexpected answer 198.51.100.7"),
])
def test_a_dnsbl_answer_is_read_by_its_return_code(answer, level, state):
    assert dnsbl.classify(answer)[:2] == (level, state)


def test_a_real_listing_code_wins_over_an_error_code_in_the_same_answer():
    assert dnsbl.classify(["127.255.255.254", "127.0.0.10"])[:2] == (ERROR, "listed 127.0.0.10")


def test_the_query_name_reverses_the_address_under_the_zone():
    assert dnsbl.query_name("192.0.2.10", "zen.spamhaus.org.") == "10.2.0.192.zen.spamhaus.org"
    name = dnsbl.query_name("2001:db8::1", "bl.example.net")
    assert name == "1.0.0.0." + "0.0.0.0." * 5 + "8.b.d.0.1.0.0.2.bl.example.net"


# --------------------------------------------------------------------------- the DNS stub


def _reply(query_wire: bytes, *records, rcode=dns.rcode.NOERROR) -> bytes:
    """A reply built by dnspython (an independent encoder, with name compression)."""
    q = dns.message.from_wire(query_wire)
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    for rdtype, values in records:
        r.answer.append(dns.rrset.from_text(q.question[0].name, 60, "IN", rdtype, *values))
    return r.to_wire()


def test_the_stub_reads_a_and_txt_answers_encoded_by_dnspython():
    wire = dnsquery.encode_query(4242, "2.0.0.127.bl.example", dnsquery.A)
    assert dns.message.from_wire(wire).question[0].to_text() == "2.0.0.127.bl.example. IN A"
    answer = dnsquery.decode_answer(_reply(wire, ("A", ["127.0.0.2", "127.0.0.4"])), 4242,
                                    dnsquery.A)
    assert (answer.rcode, sorted(answer.values)) == (0, ["127.0.0.2", "127.0.0.4"])
    wire = dnsquery.encode_query(7, "2.0.0.127.bl.example", dnsquery.TXT)
    reply = _reply(wire, ("TXT", ['"listed for " "spam, see https://bl.example/"']))
    assert dnsquery.decode_answer(reply, 7, dnsquery.TXT).values == [
        "listed for spam, see https://bl.example/"]


def test_the_stub_tells_nxdomain_from_a_reply_to_another_query():
    wire = dnsquery.encode_query(1, "x.bl.example", dnsquery.A)
    nx = dnsquery.decode_answer(_reply(wire, rcode=dns.rcode.NXDOMAIN), 1, dnsquery.A)
    assert (nx.rcode, nx.values) == (dnsquery.NXDOMAIN, [])
    with pytest.raises(dnsquery.DnsError, match="does not match"):
        dnsquery.decode_answer(_reply(wire), 2, dnsquery.A)


def test_resolv_conf_nameservers_are_the_servers_asked(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example.com\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\n")
    assert dnsquery.resolv_conf_servers(str(conf)) == [("192.0.2.53", 53), ("fe80::1", 53)]
    assert dnsquery.resolv_conf_servers(str(tmp_path / "none")) == [("127.0.0.1", 53)]


# --------------------------------------------------------------------------- digest, changes


def F(check, level, state, text="") -> Finding:  # noqa: N802 - reads as a constructor
    return Finding(check, level, state, text or f"{check} is {state}")


def test_the_digest_ignores_numbers_in_the_text_and_the_order_of_findings():
    a = [F("mail queue", OK, "no deferred mail", "3 messages in the queue"),
         F("certificate mx1", OK, "valid", "valid until 2027-03-01 (90 days)")]
    b = [F("certificate mx1", OK, "valid", "valid until 2027-03-01 (89 days)"),
         F("mail queue", OK, "no deferred mail", "0 messages in the queue")]
    assert digest(a) == digest(b)


def test_the_digest_changes_with_a_level_a_state_or_a_new_check():
    base = [F("service nginx.service", OK, "active")]
    assert digest(base) != digest([F("service nginx.service", ERROR, "inactive (dead)")])
    assert digest(base) != digest([F("service nginx.service", OK, "activating")])
    assert digest(base) != digest([*base, F("dnsbl zen 192.0.2.1", OK, "not listed")])


def test_changes_name_what_appeared_what_changed_and_what_went_away():
    previous = {f.check: f.as_dict() for f in [
        F("service nginx.service", OK, "active"), F("mail queue", OK, "no deferred mail"),
        F("service old.service", OK, "active")]}
    now = [F("service nginx.service", ERROR, "inactive (dead)"),
           F("mail queue", OK, "no deferred mail", "7 messages in the queue"),
           F("dnsbl zen 192.0.2.1", WARNING, "query refused 127.255.255.254")]
    lines = [c.line() for c in changes(previous, now)]
    assert lines[0].startswith("service nginx.service: was ok (active), now error: ")
    assert any(x.startswith("dnsbl zen 192.0.2.1: new, warning") for x in lines)
    assert "service old.service: no longer checked (was ok: active)" in lines
    assert not any(x.startswith("mail queue") for x in lines)


# --------------------------------------------------------------------------- queue, rates

NOW = 1_800_000_000


def _msg(queue, age, reason="", qid="4F9D32A1C"):
    return {"queue_name": queue, "queue_id": qid, "arrival_time": NOW - age,
            "recipients": [{"address": "bob@example.net", "delay_reason": reason}]}


def test_the_queue_names_the_oldest_deferred_message_and_its_reason():
    ok = system.queue_finding([_msg("active", 5)], NOW)
    assert (ok.level, ok.state) == (OK, "no deferred mail")
    f = system.queue_finding([_msg("deferred", 600, "connect to mx.example.net[192.0.2.7]"
                                   ":25: Connection timed out", "A1"),
                              _msg("deferred", 7200, "host mx.example.net said: 451 4.7.1 "
                                   "greylisted", "B2")], NOW)
    assert (f.level, f.state) == (WARNING, "deferred mail waiting")
    assert "2 deferred" in f.text and "(B2, to bob@example.net) waits for 2 h" in f.text
    assert "greylisted" in f.text
    old = system.queue_finding([_msg("deferred", 2 * 86400), _msg("hold", 10)], NOW)
    assert old.level == ERROR and "deferred for over a day" in old.state
    assert "mail on hold" in old.state


def test_postfix_delivery_lines_are_counted_per_status():
    lines = [
        "4F9D32A1C: to=<bob@example.net>, relay=mx.example.net[192.0.2.7]:25, delay=1.2, "
        "delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 77)",
        "5A1: to=<x@example.org>, relay=none, delay=30, dsn=4.4.1, status=deferred "
        "(connect to mx.example.org[192.0.2.9]:25: Connection refused)",
        "5B2: to=<y@example.org>, relay=mx.example.org[192.0.2.9]:25, dsn=5.1.1, "
        "status=bounced (host said: 550 5.1.1 no such user)",
        "5C3: to=<z@example.org>, relay=none, delay=432000, dsn=4.4.1, status=expired, "
        "returned to sender",
        "5D4: removed",
    ]
    assert rates.count_statuses(lines) == {"sent": 1, "deferred": 1, "bounced": 2}


def test_rates_are_judged_only_with_enough_volume():
    few = rates.rate_findings({"sent": 3, "deferred": 9, "bounced": 2}, (1, 0))
    assert {f.state for f in few} == {"too few messages to judge"}
    bad = {f.check: f for f in rates.rate_findings({"sent": 90, "deferred": 40,
                                                    "bounced": 6}, (5, 2))}
    assert (bad["bounce rate"].level, bad["bounce rate"].state) == (ERROR, "at least 10%")
    assert bad["deferral rate"].level == WARNING
    fine = {f.check: f for f in rates.rate_findings({"sent": 200, "deferred": 10,
                                                     "bounced": 2}, (1, 4))}
    assert fine["bounce rate"].level == OK and fine["deferral rate"].level == OK


# --------------------------------------------------------------------------- inventory

H = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=4$abc$def"
RAW = {"hostname": "mx1.example.com", "blocklists": ["zen.spamhaus.org"],
       "domains": {"example.com": {}, "example.org": {}}}


def test_status_mail_defaults_to_the_first_domains_postmaster_and_the_blocklists():
    s = parse_mail_settings(RAW).status_mail
    assert (s.enabled, s.to, s.dnsbl) == (True, "postmaster@example.com", ("zen.spamhaus.org",))
    s = parse_mail_settings({**RAW, "status_mail": {"to": "ops@example.net", "dnsbl": []}})
    assert (s.status_mail.to, s.status_mail.dnsbl) == ("ops@example.net", ())


@pytest.mark.parametrize(("value", "says"), [
    ({"to": "postmaster"}, "mailops.status_mail.to: found 'postmaster'; expected an e-mail"),
    ({"dnsbl": ["zen spamhaus"]}, "mailops.status_mail.dnsbl[0]: found 'zen spamhaus'"),
    ({"daily": True}, "mailops.status_mail.daily: found an unknown key"),
])
def test_a_bad_status_mail_section_is_refused_naming_the_key(value, says):
    with pytest.raises(SettingsError) as e:
        parse_mail_settings({**RAW, "status_mail": value})
    assert says in str(e.value)


# --------------------------------------------------------------------------- the report

def test_the_report_leads_with_what_changed_and_its_subject_names_it():
    from mailops.onhost.status import report

    previous = {"service nginx.service": F("service nginx.service", OK, "active").as_dict()}
    now = [F("service nginx.service", ERROR, "inactive (dead)", "nginx.service is inactive"),
           F("mail queue", OK, "no deferred mail", "0 messages in the queue")]
    changed = changes(previous, now)
    config = {"hostname": "mx1.example.com", "to": "postmaster@example.com",
              "from": "postmaster@example.com"}
    text = report.render(config, now, changed, NOW - 86400, NOW)
    head = text.split("\n\n")[1]
    assert head.startswith("Changed since the last report (")
    assert "service nginx.service: was ok (active), now error: nginx.service is inactive" \
        in head
    assert text.index("Errors:") < text.index("All right:")
    assert "status_mail: {enabled: false}" in text
    subject = report.subject("mx1.example.com", now, changed)
    assert subject == "mx1.example.com status: 1 error (changed: service nginx.service)"
    msg = report.message(config, subject, text, ERROR)
    assert msg["Auto-Submitted"] == "auto-generated" and msg["To"] == "postmaster@example.com"


def test_the_command_refuses_unknown_arguments_and_names_a_missing_config(tmp_path):
    from mailops.onhost.status import command

    assert "unknown argument '--every-hour'" in command(["--every-hour"])["error"]
    missing = command(["--config", str(tmp_path / "none.json")])["error"]
    assert "none.json" in missing and "the deploy writes it" in missing
