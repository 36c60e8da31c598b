"""VERP tokens: bind one recipient, unforgeable without the host secret."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from mailops.bounce import verp

SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_716_000_000.0  # 2024-05-18


def test_return_path_fits_an_rfc5321_local_part_and_survives_lowercasing():
    rp = verp.return_path(SECRET, "Someone.With.A.Very.Long.Name@sub.example.com",
                          "example.org", day=verp.today(NOW))
    local, _, domain = rp.partition("@")
    assert domain == "example.org"
    assert len(local) <= 64
    assert local == local.lower() and local.startswith("bounces+")
    token = verp.token_from_address(rp.upper())
    candidates = ["x@y.z", "someone.with.a.very.long.name@SUB.example.com"]
    assert verp.check_token(SECRET, token, candidates, now=NOW) == \
        "someone.with.a.very.long.name@sub.example.com"


def test_a_token_identifies_only_the_recipient_it_was_made_for():
    token = verp.make_token(SECRET, "alice@example.com", day=verp.today(NOW))
    assert verp.check_token(SECRET, token, ["bob@example.com"], now=NOW) is None
    assert verp.check_token(SECRET, token, ["alice@example.com"], now=NOW) == "alice@example.com"


def test_a_token_made_with_another_secret_is_refused():
    token = verp.make_token(b"another-secret-of-enough-length", "alice@example.com",
                            day=verp.today(NOW))
    assert verp.check_token(SECRET, token, ["alice@example.com"], now=NOW) is None


def test_an_expired_token_is_refused():
    token = verp.make_token(SECRET, "alice@example.com", day=verp.today(NOW) - 31)
    assert verp.check_token(SECRET, token, ["alice@example.com"], now=NOW, max_age_days=30) is None
    fresh = verp.make_token(SECRET, "alice@example.com", day=verp.today(NOW) - 29)
    assert verp.check_token(SECRET, fresh, ["alice@example.com"], now=NOW) == "alice@example.com"


def test_no_secret_verifies_nothing():
    token = verp.make_token(SECRET, "alice@example.com", day=verp.today(NOW))
    assert verp.check_token(None, token, ["alice@example.com"], now=NOW) is None


def test_addresses_without_a_token_have_none():
    assert verp.token_from_address("bounces@example.org") is None
    assert verp.token_from_address("other+abc@example.org") is None
    assert verp.token_from_address("") is None


@given(st.text(alphabet=string.ascii_lowercase + "234567", min_size=24, max_size=24))
def test_random_tokens_never_verify(token):
    assert verp.check_token(SECRET, token, ["alice@example.com"], now=NOW) is None


def test_short_secrets_are_rejected_when_loading(tmp_path):
    (tmp_path / "short").write_text("tooshort\n")
    (tmp_path / "good").write_text("a" * 64 + "\n")
    assert verp.load_secret(str(tmp_path / "short")) is None
    assert verp.load_secret(str(tmp_path / "missing")) is None
    assert verp.load_secret(str(tmp_path / "good")) == b"a" * 64
