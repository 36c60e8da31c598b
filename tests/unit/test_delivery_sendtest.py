"""send-test's decisions that need no host: which host and sender, which mailbox can be
read, what the outcome of a message with several rows is."""

from __future__ import annotations

import pytest

from mailops.delivery import sendtest
from mailops.inventory import InventoryHost, parse_mail_settings

HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
BOX = {"password_hash": HASH}


def host(name: str, domains: dict) -> InventoryHost:
    return InventoryHost(name, {}, parse_mail_settings({"hostname": name, "domains": domains}))


MX1 = host("mx1.example.test", {
    "example.test": {"mailboxes": {"alice": BOX, "bob": BOX},
                     "aliases": {"sales": ["bob@example.test", "x@elsewhere.test"],
                                 "out": ["x@elsewhere.test"]}},
    "tenant2.test": {"mailboxes": {"carol": BOX}, "catch_all": "carol@tenant2.test"}})
MX2 = host("mx2.example.net", {"example.net": {"mailboxes": {"dave": BOX}}})


def test_the_sender_picks_the_host_that_serves_its_domain():
    assert sendtest._pick([MX1, MX2], None) == (MX1, "postmaster@example.test")
    assert sendtest._pick([MX1, MX2], "dave@example.net") == (MX2, "dave@example.net")
    with pytest.raises(sendtest.SendTestError, match="--from: found 'eve@evil.test', whose "
                       "domain no host of the inventory serves"):
        sendtest._pick([MX1, MX2], "eve@evil.test")


@pytest.mark.parametrize("address,mailbox", [
    ("bob@example.test", "bob@example.test"),
    ("Bob+news@Example.test", "bob@example.test"),  # RFC 5233 subaddress, any case
    ("sales@example.test", "bob@example.test"),  # an alias: its first hosted target
    ("out@example.test", None),  # forwards elsewhere only
    ("anyone@tenant2.test", "carol@tenant2.test"),  # the catch-all
    ("nobody@example.test", None),
    ("x@remote.test", None),
])
def test_which_hosted_mailbox_an_address_lands_in(address, mailbox):
    assert sendtest._mailbox_of(MX1, address) == mailbox


def row(state: str, recipient: str = "a@x.test", reply: str = "") -> dict:
    return {"state": state, "recipient": recipient, "reply": reply}


@pytest.mark.parametrize("rows,outcome", [
    ([], "unknown"),
    ([row("queued")], "queued"),
    ([row("sent"), row("deferred", "b@x.test")], "deferred"),  # not final while one waits
    ([row("delivered"), row("bounced", "b@x.test")], "bounced"),  # the worst final one
    ([row("delivered"), row("delivered", "b@x.test")], "delivered"),
    ([row("sent")], "sent"),
])
def test_the_outcome_of_a_message_over_its_rows(rows, outcome):
    assert sendtest._outcome(rows)[0] == outcome
