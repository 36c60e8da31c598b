"""The settings layer stops bad inventories before anything is touched."""

import pytest

from mailops.inventory import SettingsError, parse_mail_settings

HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"


def good(**overrides):
    data = {
        "hostname": "mx1.example.test",
        "domains": {
            "example.test": {
                "mailboxes": {"alice": {"password_hash": HASH, "quota": "1G"}},
                "aliases": {"postmaster": ["alice@example.test"]},
            },
            "tenant2.test": {"catch_all": "alice@example.test"},
        },
    }
    data.update(overrides)
    return data


def problems(data) -> list[str]:
    with pytest.raises(SettingsError) as e:
        parse_mail_settings(data)
    return e.value.problems


def test_a_valid_inventory_becomes_typed_settings_with_documented_defaults():
    s = parse_mail_settings(good())
    assert [d.name for d in s.domains] == ["example.test", "tenant2.test"]
    alice = s.domain("example.test").mailboxes[0]
    assert alice.address == "alice@example.test" and alice.quota == 1024**3
    assert s.domain("example.test").spf.all == "-all"
    assert s.domain("example.test").dmarc.policy == "reject"
    assert s.domain("example.test").dmarc.rua == ("postmaster@example.test",)
    assert s.message_size_limit == 50 * 1024**2


def test_an_unknown_key_is_named_with_a_suggestion():
    (p,) = problems(good(hostnmae="x"))
    assert "mailops.hostnmae" in p and "unknown key" in p and "did you mean 'hostname'" in p


def test_a_malformed_domain_is_named_with_what_was_expected():
    data = good()
    data["domains"]["exa mple..test"] = {}
    (p,) = problems(data)
    assert "mailops.domains.exa mple..test" in p and "lower-case domain name" in p


def test_a_plaintext_password_is_refused_and_never_echoed():
    data = good()
    data["domains"]["example.test"]["mailboxes"]["alice"]["password_hash"] = "hunter2secret"
    (p,) = problems(data)
    assert "mailboxes.alice.password_hash" in p and "mailops hash-password" in p
    assert "hunter2secret" not in p


def test_every_problem_is_reported_in_one_run():
    data = good(ipv4=["300.1.1.1"], message_size_limit="lots")
    data["domains"]["example.test"]["aliases"]["sales"] = ["not-an-address"]
    found = problems(data)
    assert len(found) == 3
    assert any("mailops.ipv4[0]" in p for p in found)
    assert any("message_size_limit" in p and "'50M'" in p for p in found)
    assert any("aliases.sales[0]" in p for p in found)


def test_an_alias_to_a_missing_local_mailbox_is_an_error():
    data = good()
    data["domains"]["example.test"]["aliases"]["sales"] = ["nobody@example.test"]
    (p,) = problems(data)
    assert "nobody@example.test" in p and "neither a mailbox nor an alias" in p


def test_a_hash_made_by_mailops_hash_password_is_accepted():
    from mailops.passwords import hash_password

    data = good()
    data["domains"]["example.test"]["mailboxes"]["alice"]["password_hash"] = hash_password("pw")
    assert parse_mail_settings(data).mailboxes[0].password_hash.startswith("{ARGON2ID}$argon2id$")


def test_an_spf_include_may_name_an_underscore_domain():
    data = good()
    data["domains"]["example.test"]["spf"] = {"include": ["_spf.google.com"]}
    assert parse_mail_settings(data).domain("example.test").spf.include == ("_spf.google.com",)


def test_a_secret_pasted_where_an_env_var_name_belongs_is_refused_and_not_shown():
    data = good()
    data["domains"]["example.test"]["dns"] = {"provider": "rfc2136", "server": "192.0.2.53",
                                              "tsig_env": "key:hmac-sha256:c2VjcmV0"}
    (p,) = problems(data)
    assert "dns.tsig_env" in p and "c2VjcmV0" not in p


def test_mynetworks_entries_must_be_networks_because_they_may_relay():
    (p,) = problems(good(mynetworks="10.0.0.0/8"[:3] + "x"))
    assert "mailops.mynetworks[0]" in p
    assert parse_mail_settings(good(mynetworks="192.0.2.0/24")).mynetworks == ("192.0.2.0/24",)


def test_an_inventory_that_does_not_run_gives_a_clear_error(tmp_path):
    from mailops.inventory import load_inventory

    bad = tmp_path / "broken.py"
    bad.write_text("MAILOPS = {'hostname': undefined_name}\n")
    with pytest.raises(SettingsError) as e:
        load_inventory(bad)
    assert "NameError" in str(e.value) and "broken.py" in str(e.value)
