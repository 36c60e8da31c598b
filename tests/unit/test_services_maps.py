"""Inventory -> Postfix/Dovecot/OpenDKIM data (src/mailops/services/), without a host."""

from __future__ import annotations

import pytest

from mailops.inventory import SettingsError, parse_mail_settings
from mailops.services import dovecot, opendkim, postfix
from mailops.services.paths import MailhostError
from mailops.services.render import render

# Real hashes in the formats the settings accept (argon2-cffi, doveadm pw).
ARGON = ("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$UXeb0LuN8rOr1HbMj01s4g$"
         "EK04VdCg6+HFtDzMUjKbb3D3fQFhTaEyt7dMBtCIcqM")
BARE_ARGON = ARGON.removeprefix("{ARGON2ID}")
# `doveadm pw -s SHA512-CRYPT -p secret`, scheme prefix removed.
SHA512 = ("$6$WV8M4M09gjhbSgV5$X51K/xlh3IZQC.O2AGlRJxMtGlWcfgt0GioJKzV6"
          "50lPbO5ftr7FC9FFAhYenGGnz/NzQE4dkPDkQ843QZRZC1")


def lab(**overrides):
    raw = {
        "hostname": "mx.example.test",
        "domains": {
            "example.test": {
                "mailboxes": {
                    "alice": {"password_hash": ARGON, "quota": "1G"},
                    "bob": {"password_hash": SHA512},
                },
                "aliases": {
                    "postmaster": "alice@example.test",
                    "team": ["alice@example.test", "bob@example.test", "alice@example.test"],
                    "ext": "someone@remote.test",
                    "help": "team@example.test",
                },
            },
            "tenant2.test": {
                "mailboxes": {"carol": {"password_hash": BARE_ARGON},
                              "dave": {"password_hash": ARGON, "quota": "10M"}},
                "aliases": {
                    "postmaster": "carol@tenant2.test",
                    "shared": ["carol@tenant2.test", "alice@example.test"],
                },
                "catch_all": "carol@tenant2.test",
            },
        },
        "default_quota": "2G",
    }
    raw.update(overrides)
    return parse_mail_settings(raw)


def as_dict(pairs):
    return dict(pairs)


# --------------------------------------------------------------------------- recipients


def test_hosted_domains_are_every_inventory_domain_sorted():
    assert postfix.hosted_domains(lab()) == ["example.test", "tenant2.test"]


def test_every_mailbox_is_listed_with_its_maildir_and_nothing_else_is():
    boxes = as_dict(postfix.mailbox_map(lab()))
    assert boxes == {
        "alice@example.test": "example.test/alice/",
        "bob@example.test": "example.test/bob/",
        "carol@tenant2.test": "tenant2.test/carol/",
        "dave@tenant2.test": "tenant2.test/dave/",
    }


def test_an_alias_maps_to_its_targets_in_order_without_duplicates():
    aliases = as_dict(postfix.alias_map(lab()))
    assert aliases["team@example.test"] == ["alice@example.test", "bob@example.test"]
    assert aliases["ext@example.test"] == ["someone@remote.test"]


def test_a_catch_all_domain_maps_each_mailbox_to_itself_before_the_catch_all_line():
    entries = postfix.alias_map(lab())
    keys = [k for k, _ in entries]
    assert ("dave@tenant2.test", ["dave@tenant2.test"]) in entries
    assert ("carol@tenant2.test", ["carol@tenant2.test"]) in entries
    assert keys.index("dave@tenant2.test") < keys.index("@tenant2.test")
    assert as_dict(entries)["@tenant2.test"] == ["carol@tenant2.test"]


def test_a_domain_without_catch_all_gets_no_wildcard_and_no_self_mappings():
    keys = [k for k, _ in postfix.alias_map(lab())]
    assert "@example.test" not in keys
    assert "alice@example.test" not in keys


def test_addresses_are_lower_cased_everywhere():
    s = lab(domains={"example.test": {"mailboxes": {"Alice": {"password_hash": ARGON}},
                                      "aliases": {"Info": "Alice@example.test"}}})
    assert as_dict(postfix.mailbox_map(s)) == {"alice@example.test": "example.test/alice/"}
    assert as_dict(postfix.alias_map(s)) == {"info@example.test": ["alice@example.test"]}
    assert dovecot.dovecot_users(s)[0].address == "alice@example.test"


def test_two_addresses_differing_only_in_case_are_refused_when_the_inventory_loads():
    with pytest.raises(SettingsError, match="differs from 'alice' only in upper/lower case"):
        lab(domains={"example.test": {"mailboxes": {"alice": {"password_hash": ARGON},
                                                    "Alice": {"password_hash": ARGON}}}})


def test_a_mailbox_local_part_with_a_slash_is_refused_because_it_becomes_a_path():
    with pytest.raises(SettingsError, match="path separator"):
        lab(domains={"example.test": {"mailboxes": {"a/b": {"password_hash": ARGON}}}})


def test_mydestination_never_contains_a_hosted_domain():
    assert postfix.mydestination(lab()) == ["$myhostname", "localhost"]
    s = lab(hostname="example.test")
    assert postfix.mydestination(s) == ["localhost"]


# --------------------------------------------------------------------------- Dovecot users


def test_dovecot_users_carry_a_scheme_prefix_and_their_quota_in_bytes():
    users = {u.address: u for u in dovecot.dovecot_users(lab())}
    assert users["alice@example.test"].line == (
        f"alice@example.test:{ARGON}::::::userdb_quota_rule=*:storage=1073741824B")
    assert users["bob@example.test"].password == "{SHA512-CRYPT}" + SHA512
    assert users["bob@example.test"].quota == 2 * 1024**3  # the host default
    assert users["carol@tenant2.test"].password == "{ARGON2ID}" + BARE_ARGON
    assert users["dave@tenant2.test"].quota == 10 * 1024**2


def test_a_mailbox_without_any_quota_gets_no_quota_rule():
    s = lab(default_quota=None)
    bob = next(u for u in dovecot.dovecot_users(s) if u.address == "bob@example.test")
    assert bob.quota is None
    assert bob.line == f"bob@example.test:{{SHA512-CRYPT}}{SHA512}::::::"
    assert bob.line.count(":") == 7  # passwd-file(5): exactly 8 fields


@pytest.mark.parametrize("bare,scheme", [
    ("$2b$10$abcdefghijklmnopqrstuu", "{BLF-CRYPT}"),
    ("$5$salt$hash", "{SHA256-CRYPT}"),
    ("$argon2i$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA", "{ARGON2I}"),
])
def test_bare_crypt_hashes_get_the_matching_dovecot_scheme(bare, scheme):
    assert dovecot.dovecot_password(bare) == scheme + bare


def test_a_hash_with_a_colon_or_newline_is_refused_without_echoing_it():
    for bad in ("{PLAIN}a:b", "{PLAIN}a\nroot::0:0::/:/bin/sh"):
        with pytest.raises(MailhostError) as e:
            dovecot.dovecot_password(bad)
        assert bad not in str(e.value)


def test_dovecot_users_never_show_the_hash_in_their_repr():
    assert ARGON not in repr(dovecot.dovecot_users(lab()))


# --------------------------------------------------------------------------- OpenDKIM


def test_opendkim_context_has_one_key_per_domain_with_its_host_path():
    ctx = opendkim.opendkim_context(lab(), {"example.test": "s202611a", "tenant2.test": "s202611b"})
    assert [(k.name, k.host_path) for k in ctx["keys"]] == [
        ("s202611a._domainkey.example.test",
         "/etc/opendkim/keys/example.test/s202611a.private"),
        ("s202611b._domainkey.tenant2.test",
         "/etc/opendkim/keys/tenant2.test/s202611b.private"),
    ]
    assert ctx["signature_algorithm"] == "rsa-sha256"
    assert ctx["socket"] == "/var/spool/postfix/opendkim/opendkim.sock"


def test_a_hosted_domain_without_a_signing_key_gets_no_keytable_or_signingtable_entry():
    # Its first key is not yet published and probed: the host must not sign for it.
    ctx = opendkim.opendkim_context(lab(), {"example.test": "s202611a"}, "rsa-sha256")
    assert [k.domain for k in ctx["keys"]] == ["example.test"]
    tables = (render("opendkim/KeyTable.j2", **ctx)
              + render("opendkim/SigningTable.j2", **ctx))
    assert "example.test" in tables and "tenant2.test" not in tables


def test_mixing_rsa_and_ed25519_domains_on_one_host_is_refused():
    s = lab(domains={
        "example.test": {"mailboxes": {"a": {"password_hash": ARGON}}},
        "tenant2.test": {"mailboxes": {"b": {"password_hash": ARGON}},
                         "dkim": {"algorithm": "ed25519"}},
    })
    with pytest.raises(MailhostError, match="one algorithm per instance"):
        opendkim.dkim_signature_algorithm(s)


def test_all_ed25519_domains_sign_with_ed25519_sha256():
    s = lab(domains={"example.test": {"mailboxes": {"a": {"password_hash": ARGON}},
                                      "dkim": {"algorithm": "ed25519"}}})
    assert opendkim.dkim_signature_algorithm(s) == "ed25519-sha256"


def test_trusted_hosts_are_loopback_the_host_and_mynetworks_without_brackets():
    s = lab(mynetworks=["127.0.0.0/8", "[::1]/128", "192.0.2.0/24"])
    assert opendkim.trusted_hosts(s) == ["127.0.0.1", "::1", "localhost", "mx.example.test",
                                   "127.0.0.0/8", "::1/128", "192.0.2.0/24"]
