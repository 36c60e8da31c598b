"""Rules across inventory fields and hosts: each refused at load, naming the key."""

from __future__ import annotations

import pytest

from mailops.inventory import SettingsError, load_inventory, parse_mail_settings

HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
BOX = {"password_hash": HASH}


def inventory(**example):
    """One host, two domains; ``example`` replaces keys of example.test."""
    return {
        "hostname": "mx1.example.test",
        "domains": {
            "example.test": {"mailboxes": {"alice": BOX},
                             "aliases": {"postmaster": "alice@example.test"}, **example},
            "tenant2.test": {"mailboxes": {"carol": BOX}},
        },
    }


def the_problem(raw) -> str:
    with pytest.raises(SettingsError) as e:
        parse_mail_settings(raw)
    (p,) = e.value.problems
    return p


def test_the_example_inventory_breaks_no_rule():
    parse_mail_settings(inventory())


def test_addresses_differing_only_in_case_would_collide_in_postfix_and_dovecot():
    p = the_problem(inventory(mailboxes={"alice": BOX, "Alice": BOX}))
    assert p.startswith("mailops.domains.example.test.mailboxes.Alice: found 'Alice', which "
                        "differs from 'alice' only in upper/lower case")
    assert "case-insensitively" in p


def test_an_alias_with_a_mailboxs_address_is_one_or_the_other():
    p = the_problem(inventory(aliases={"alice": "carol@tenant2.test"}))
    assert "example.test.aliases.alice: found an alias with the same address as a mailbox" in p


def test_a_slash_in_a_mailbox_name_would_be_a_path_separator():
    p = the_problem(inventory(mailboxes={"alice": BOX, "a/b": BOX}))
    assert "mailboxes.a/b: found 'a/b' with a '/'" in p and "path separator" in p


def test_a_slash_in_an_alias_name_is_fine_it_names_no_directory():
    parse_mail_settings(inventory(aliases={"a/b": "alice@example.test"}))


@pytest.mark.parametrize("kind", ["mailboxes", "aliases"])
def test_bounces_is_reserved_for_delivery_status_notifications(kind):
    extra = {"mailboxes": {"alice": BOX, "Bounces": BOX}} if kind == "mailboxes" else \
        {"aliases": {"bounces": "alice@example.test"}}
    p = the_problem(inventory(**extra))
    assert f"example.test.{kind}." in p and "'bounces' to be free" in p


def test_an_alias_to_a_name_the_domain_does_not_have_would_bounce():
    p = the_problem(inventory(aliases={"sales": "bob@example.test"}))
    assert "aliases: found target 'bob@example.test' of 'sales@example.test'" in p


def test_a_catch_all_domain_takes_any_name_so_targets_there_are_fine():
    raw = inventory(aliases={"sales": "anyone@tenant2.test"})
    raw["domains"]["tenant2.test"]["catch_all"] = "carol@tenant2.test"
    parse_mail_settings(raw)


def test_more_than_ten_spf_lookups_fail_at_every_receiver():
    p = the_problem(inventory(spf={"include": [f"s{i}.provider.test" for i in range(10)]}))
    assert p.startswith("mailops.domains.example.test.spf.include:")
    assert "11 DNS lookups" in p and "RFC 7208 §4.6.4" in p
    parse_mail_settings(inventory(spf={"include": [f"s{i}.provider.test" for i in range(9)]}))


def test_a_zone_must_contain_its_domain():
    p = the_problem(inventory(dns={"zone": "other.test"}))
    assert "example.test.dns.zone: found 'other.test'; expected 'example.test' or a parent" in p
    parse_mail_settings(inventory(dns={"zone": "example.test"}))


def test_rfc2136_needs_the_primarys_address():
    p = the_problem(inventory(dns={"provider": "rfc2136", "server": "ns1.example.test"}))
    assert "example.test.dns.server: found 'ns1.example.test'; expected the IP address" in p


def test_an_mta_sts_max_age_beyond_a_year_is_refused():
    p = the_problem(inventory(mta_sts={"max_age": "400d"}))
    assert "mta_sts.max_age" in p and "RFC 8461 §3.2" in p


def test_tls_files_mode_needs_both_paths():
    raw = inventory()
    raw["tls"] = {"mode": "files", "cert_file": "/etc/ssl/fullchain.pem"}
    assert the_problem(raw).startswith("mailops.tls.key_file: found nothing")


def test_two_hosts_must_describe_a_shared_domain_the_same_way(tmp_path):
    path = tmp_path / "two.py"
    path.write_text(
        "mail = [\n"
        "  ('mx1', {'mailops': {'hostname': 'mx1.example.test',\n"
        "           'domains': {'example.test': {}}}}),\n"
        "  ('mx2', {'mailops': {'hostname': 'mx2.example.test',\n"
        "           'domains': {'example.test': {'dmarc': {'policy': 'none'}}}}}),\n"
        "]\n")
    with pytest.raises(SettingsError) as e:
        load_inventory(path)
    (p,) = e.value.problems
    assert p.startswith("host mx2: mailops.domains.example.test: found dns, spf, dmarc")
    assert "host mx1's" in p
