"""The inventory model: typed values, documented defaults, every field problem in one run."""

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


def test_unknown_keys_are_refused_at_every_depth_with_the_keys_that_exist_there():
    data = good()
    data["domains"]["example.test"]["dmarc"] = {"polcy": "none"}
    data["domains"]["example.test"]["mailboxes"]["alice"]["quotta"] = "1G"
    found = problems(data)
    assert any("dmarc.polcy" in p and "did you mean 'policy'" in p for p in found)
    assert any("mailboxes.alice.quotta" in p and "did you mean 'quota'" in p for p in found)


def test_choices_name_every_allowed_value():
    data = good()
    data["domains"]["example.test"]["mta_sts"] = {"mode": "on"}
    (p,) = problems(data)
    assert "mta_sts.mode: found 'on'; expected one of 'testing', 'enforce', 'none'" in p


def test_a_whole_number_out_of_range_says_the_range():
    data = good()
    data["domains"]["example.test"]["dns"] = {"port": 70000}
    (p,) = problems(data)
    assert "dns.port: found int 70000; expected a whole number from 1 to 65535" in p


def test_domain_dependent_defaults_are_filled_in_per_domain():
    s = parse_mail_settings(good())
    t2 = s.domain("tenant2.test")
    assert t2.dns.zone == "tenant2.test" and t2.tlsrpt_rua == ("postmaster@tenant2.test",)
    assert t2.dmarc.rua == ("postmaster@tenant2.test",)


def test_an_explicitly_empty_report_list_stays_empty():
    data = good()
    data["domains"]["example.test"]["tlsrpt"] = {"rua": []}
    assert parse_mail_settings(data).domain("example.test").tlsrpt_rua == ()


def test_the_same_data_is_validated_once_per_process():
    data = good()
    assert parse_mail_settings(data) is parse_mail_settings(data)


def test_a_missing_certificate_file_is_not_an_inventory_error_but_the_deploys(tmp_path):
    from mailops.inventory.machine import local_file

    data = good(tls={"mode": "files", "cert_file": "/nowhere/fullchain.pem",
                     "key_file": "/nowhere/privkey.pem"})
    assert parse_mail_settings(data).tls.cert_file == "/nowhere/fullchain.pem"
    with pytest.raises(SettingsError) as e:
        local_file("/nowhere/fullchain.pem", "tls.cert_file")
    assert "mailops.tls.cert_file: found '/nowhere/fullchain.pem'" in str(e.value)
    (tmp_path / "c.pem").write_text("x")
    assert local_file(str(tmp_path / "c.pem"), "tls.cert_file") == tmp_path / "c.pem"


def test_the_shipped_example_inventory_loads_from_a_fresh_clone(monkeypatch):
    from mailops.inventory import load_inventory

    monkeypatch.delenv("MAILOPS_KEYSTORE", raising=False)
    from pathlib import Path

    inv = load_inventory(Path(__file__).resolve().parents[2] / "inventories" / "prod.py")
    assert [h.name for h in inv] == ["mx1.example.com"]
    assert sorted(inv.domains()) == ["example.com", "example.org"]
    assert [h.name for h in inv.serving("example.org")] == ["mx1.example.com"]


def test_a_hash_with_a_colon_would_break_the_passwd_file_and_is_refused_unshown():
    data = good()
    data["domains"]["example.test"]["mailboxes"]["alice"]["password_hash"] = \
        "{SHA512-CRYPT}$6$salt:root::0:0"
    (p,) = problems(data)
    assert "password_hash: found a password hash containing ':'" in p and "salt" not in p


def test_the_keystore_follows_the_environment_when_the_inventory_names_none(monkeypatch):
    data = good()
    monkeypatch.setenv("MAILOPS_KEYSTORE", "/srv/keys-a")
    assert str(parse_mail_settings(data).keystore) == "/srv/keys-a"
    monkeypatch.setenv("MAILOPS_KEYSTORE", "/srv/keys-b")
    assert str(parse_mail_settings(data).keystore) == "/srv/keys-b"
