"""The parser measured on real bounces it was not written against, per axis.

Two labelled corpora live in the shared folder beside the clone
(``../shared/corpora``: flufl-bounce and sisimai-dev; see their READMEs). The
figures are printed (``pytest -s`` or the -ra summary shows them) and each axis
has a floor: a change that makes the parser worse on real mail fails here.
When the corpora are missing the tests say where they looked, and in CI
(CI=true) that is a failure, not a skip.
"""

from __future__ import annotations

import pytest
from bounce_corpora import require

from mailops.bounce import score
from mailops.bounce.parse import parse_bytes

# Floors on sisimai-dev (292 messages, about 70 MTA families) and on the
# flufl.bounce set (117 messages; recipients and permanence only).
SISIMAI_FLOORS = {"recipients": 0.97, "hard/soft": 0.95, "reason": 0.85, "status class": 0.93,
                  "kind": 0.97}
FLUFL_FLOORS = {"recipients": 0.97, "permanent": 0.98, "kind": 0.97}


def corpus(name: str):
    return score.load(require(name))


@pytest.fixture(scope="module")
def sisimai():
    cases = corpus("sisimai-dev")
    return cases, score.score(cases, parse_bytes)


@pytest.fixture(scope="module")
def flufl():
    cases = corpus("flufl-bounce")
    return cases, score.score(cases, parse_bytes)


def _check(title, axes, floors):
    print("\n" + score.summary(title, axes))
    low = {name: f"{axes[name].rate:.1%} < {floor:.0%}; misses: {axes[name].misses[:8]}"
           for name, floor in floors.items() if axes[name].rate < floor}
    assert not low, low


def test_sisimai_dev_accuracy_per_axis_stays_above_its_floor(sisimai):
    _check("sisimai-dev", sisimai[1], SISIMAI_FLOORS)


def test_flufl_bounce_accuracy_per_axis_stays_above_its_floor(flufl):
    _check("flufl-bounce", flufl[1], FLUFL_FLOORS)


def test_no_content_or_policy_refusal_is_ever_classified_hard(sisimai, flufl):
    # A refusal of the message (filter, spam, policy, block list, our sender)
    # says nothing about the address; classified hard it would suppress a
    # live recipient.  flufl.bounce carries no reasons, so over it: no bounce
    # is hard unless its reason condemns the address.
    safety = sisimai[1]["safety"]
    print(f"\nsafety: {safety.ok}/{safety.total} content/policy refusals not hard")
    assert safety.total >= 60 and not safety.misses, safety.misses
    from mailops.bounce.classify import HARD_REASONS

    for case in flufl[0] + sisimai[0]:
        for b in parse_bytes(case.path.read_bytes()).bounces:
            if b.hard:
                assert b.reason in HARD_REASONS and b.permanent and b.status.startswith("5."), \
                    (case.name, b)
                assert b.reason not in score.NEVER_HARD_REASONS, (case.name, b)


def test_the_scorer_counts_a_wrong_answer_as_wrong(tmp_path):
    # The floors mean something only if the scorer can fail: a parser that
    # finds nobody scores zero on every per-recipient axis.
    from mailops.bounce.report import Report

    (tmp_path / "messages").mkdir()
    (tmp_path / "messages" / "a.eml").write_bytes(b"Subject: x\n\nhello\n")
    (tmp_path / "expected.json").write_text(
        '{"messages/a.eml": [{"recipient": "x@example.com", "status": "5.1.1", '
        '"replycode": "550", "reason": "userunknown", "hard_bounce": true}]}')
    axes = score.score(score.load(tmp_path), lambda data: Report(kind="not-bounce"))
    assert {name: a.rate for name, a in axes.items()} == {
        "recipients": 0.0, "hard/soft": 0.0, "reason": 0.0, "status class": 0.0, "kind": 0.0}
