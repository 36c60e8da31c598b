"""The 117 real bounces of the flufl.bounce corpus: expected recipients are a floor."""

from __future__ import annotations

import json

import pytest
from bounce_corpora import folder, require

from mailops.bounce.parse import parse_bytes

CORPUS = folder("flufl-bounce")

# Documented gaps, checked so that they fail loudly once fixed.
# yale_01: the report names a bare local part ("userx") from
# MAILER-DAEMON@mr2.its.yale.edu; we qualify it with the organisational
# domain (userx@yale.edu).  flufl.bounce's Yale-specific detector also guesses
# userx@cs.yale.edu, an address the message never states.
KNOWN_MISSING = {"yale_01.txt": {("userx@cs.yale.edu", True)}}


def _expected():
    return json.loads((require("flufl-bounce") / "expected.json").read_text())


def _found(name):
    report = parse_bytes((require("flufl-bounce") / "messages" / name).read_bytes())
    return report, {(b.recipient.lower(), b.permanent) for b in report.bounces}


@pytest.mark.parametrize("name", sorted(json.loads((CORPUS / "expected.json").read_text()))
                         if CORPUS else ["(corpus missing)"])
def test_every_expected_recipient_is_found_with_its_permanence(name):
    want = {(w["recipient"].lower(), w["permanent"]) for w in _expected()[name]}
    _, got = _found(name)
    missing = want - got
    assert missing == KNOWN_MISSING.get(name, set())


def test_corpus_score_is_at_least_116_of_117():
    full = sum(
        {(w["recipient"].lower(), w["permanent"]) for w in want} <= _found(name)[1]
        for name, want in _expected().items()
    )
    assert full >= 116


def test_no_corpus_message_yields_a_bounce_without_status_or_reason():
    for name in _expected():
        report, _ = _found(name)
        for b in report.bounces:
            assert b.reason
            if report.kind in ("dsn", "legacy"):
                assert b.status and b.status[0] in "45", (name, b)
