"""Who may send as whom: smtpd_sender_login_maps and tenant isolation (mailops.services.postfix)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mailops.inventory import parse_mail_settings
from mailops.services import postfix

# doveadm pw -s SHA512-CRYPT -p secret
HASH = ("$6$WV8M4M09gjhbSgV5$X51K/xlh3IZQC.O2AGlRJxMtGlWcfgt0GioJKzV6"
        "50lPbO5ftr7FC9FFAhYenGGnz/NzQE4dkPDkQ843QZRZC1")


def lab():
    return parse_mail_settings({
        "hostname": "mx.example.test",
        "domains": {
            "example.test": {
                "mailboxes": {"alice": {"password_hash": HASH}, "bob": {"password_hash": HASH}},
                "aliases": {
                    "postmaster": "alice@example.test",
                    "team": ["alice@example.test", "bob@example.test"],
                    "help": "team@example.test",  # alias of an alias
                    "ext": "someone@remote.test",  # a pure forward: nobody owns it
                    "loop1": "loop2@example.test",
                    "loop2": ["loop1@example.test", "bob@example.test"],
                },
            },
            "tenant2.test": {
                "mailboxes": {"carol": {"password_hash": HASH}},
                "aliases": {"shared": ["carol@tenant2.test", "alice@example.test"]},
                "catch_all": "carol@tenant2.test",
            },
        },
    })


def owners(settings):
    return dict(postfix.sender_login_map(settings))


def test_a_mailbox_may_send_as_itself_only_by_default():
    assert owners(lab())["bob@example.test"] == ["bob@example.test"]


def test_an_alias_is_owned_by_every_mailbox_it_delivers_to():
    o = owners(lab())
    assert o["postmaster@example.test"] == ["alice@example.test"]
    assert o["team@example.test"] == ["alice@example.test", "bob@example.test"]


def test_alias_chains_are_followed_and_loops_terminate():
    o = owners(lab())
    assert o["help@example.test"] == ["alice@example.test", "bob@example.test"]
    assert o["loop1@example.test"] == ["bob@example.test"]
    assert o["loop2@example.test"] == ["bob@example.test"]


def test_a_pure_forward_to_a_remote_address_is_owned_by_nobody():
    assert "ext@example.test" not in owners(lab())


def test_a_catch_all_grants_no_sending_rights_for_unlisted_names():
    o = owners(lab())
    assert "@tenant2.test" not in o
    assert postfix.addresses_of_login(lab())["carol@tenant2.test"] == [
        "carol@tenant2.test", "shared@tenant2.test"]


def test_a_login_owns_another_tenants_address_only_when_that_tenant_aliases_it():
    assert postfix.addresses_of_login(lab())["alice@example.test"] == [
        "alice@example.test", "help@example.test", "postmaster@example.test",
        "shared@tenant2.test", "team@example.test",
    ]
    assert postfix.addresses_of_login(lab())["bob@example.test"] == [
        "bob@example.test", "help@example.test", "loop1@example.test", "loop2@example.test",
        "team@example.test",
    ]


def test_no_tenant2_login_may_send_as_any_example_test_address():
    for address, logins in postfix.sender_login_map(lab()):
        if address.endswith("@example.test"):
            assert all(login.endswith("@example.test") for login in logins), address


# --------------------------------------------------------------------------- property

LOCALS = st.sampled_from(["a", "b", "c", "d", "e"])
DOMAINS = ["one.test", "two.test", "three.test"]


@st.composite
def inventories(draw):
    """Random tenants with mailboxes, aliases (to local, cross-tenant or remote targets)."""
    raw = {}
    for domain in DOMAINS:
        boxes = draw(st.sets(LOCALS, min_size=1, max_size=3))
        raw[domain] = {"mailboxes": {b: {"password_hash": HASH} for b in boxes}}
    all_boxes = [f"{b}@{d}" for d in DOMAINS for b in raw[d]["mailboxes"]]
    for domain in DOMAINS:
        free = ["p", "q", "r"]
        aliases = {}
        for name in draw(st.sets(st.sampled_from(free), max_size=3)):
            targets = draw(st.lists(st.sampled_from(
                all_boxes + ["x@remote.test"] + [f"{f}@{d}" for f in free for d in DOMAINS]),
                min_size=1, max_size=3))
            aliases[name] = targets
        raw[domain]["aliases"] = aliases
    # Only keep alias targets that exist (the settings reject dangling local targets).
    known = set(all_boxes) | {f"{a}@{d}" for d in DOMAINS for a in raw[d]["aliases"]}
    for domain in DOMAINS:
        for name, targets in list(raw[domain]["aliases"].items()):
            kept = [t for t in targets if t in known or t.endswith("@remote.test")]
            raw[domain]["aliases"][name] = kept or ["x@remote.test"]
    return parse_mail_settings({"hostname": "mx.one.test", "domains": raw})


def reaches(settings, address, login, seen=None):
    """Reference: does mail to `address` reach mailbox `login` via explicit aliases?"""
    seen = seen or set()
    if address in seen:
        return False
    seen.add(address)
    if address == login:
        return True
    targets = dict(postfix._alias_targets(settings)).get(address, [])
    return any(reaches(settings, t, login, seen) for t in targets)


@hsettings(max_examples=150, deadline=None)
@given(inventories())
def test_a_login_may_send_as_an_address_exactly_when_mail_to_it_reaches_that_login(s):
    table = dict(postfix.sender_login_map(s))
    addresses = set(table) | {a for a, _ in postfix.alias_map(s)}
    for login in postfix.mailboxes(s):
        for address in addresses:
            allowed = login in table.get(address, [])
            assert allowed == reaches(s, address, login), (address, login)
