"""No input crashes the parser or makes the hook exit with anything but 0 or 75.

The fuzzing runs on ``analyse``, the parser without its safety net, so an
unexpected exception anywhere in it fails these tests; the net itself
(``parse_bytes`` turns any exception into "not-bounce", and the hook then
quarantines the message) is tested on its own below.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from bounce_corpora import folder
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailops.bounce import hook
from mailops.bounce.parse import KINDS, analyse, parse_bytes

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"
SAMPLES = sorted(FIXTURES.glob("*.eml"))
for name, pattern in (("flufl-bounce", "*.txt"), ("sisimai-dev", "*.eml")):
    if folder(name):  # real messages to corrupt, when the shared corpora are here
        SAMPLES += sorted((folder(name) / "messages").glob(pattern))[:60]
SAMPLE_BYTES = [p.read_bytes() for p in SAMPLES]

CONTENT_TYPES = ["text/plain", "text/html", "message/delivery-status",
                 "message/global-delivery-status", "message/rfc822", "text/rfc822-headers",
                 "message/feedback-report", "multipart/report", "multipart/mixed",
                 "application/octet-stream"]
FIELD_LINES = st.sampled_from([
    "Final-Recipient: rfc822; a@b.example", "Original-Recipient: utf-8; \\x{4E0A}@b.example",
    "Action: failed", "Action: delayed", "Status: 5.1.1", "Status: 9.9.9.9", "Status:",
    "Diagnostic-Code: smtp; 550 5.1.1 nope", "Reporting-MTA: dns; mx", "Feedback-Type: abuse",
    "Original-Rcpt-To: <x@y.example>", "X-Failed-Recipients: q@r.example", "", " folded",
    "<a@b.example>:", "Content-Transfer-Encoding: base64", "Auto-Submitted: auto-replied",
])


def assert_report(report):
    assert report.kind in KINDS
    for b in report.bounces:
        assert isinstance(b.recipient, str) and b.reason
        b.to_dict()


@st.composite
def mime_messages(draw, depth=0):
    ctype = draw(st.sampled_from(CONTENT_TYPES))
    boundary = draw(st.sampled_from(["XX", "b-1", "=_x", ""]))
    headers = [f"Content-Type: {ctype}; boundary=\"{boundary}\"; report-type="
               f"{draw(st.sampled_from(['delivery-status', 'feedback-report', 'x']))}"]
    headers += draw(st.lists(FIELD_LINES, max_size=4))
    body_lines = draw(st.lists(FIELD_LINES, max_size=8))
    body = "\n".join(body_lines)
    if ctype.startswith("multipart/") and depth < 2:
        children = draw(st.lists(mime_messages(depth=depth + 1), max_size=3))
        body = "".join(f"--{boundary}\n{c}\n" for c in children) + \
            draw(st.sampled_from([f"--{boundary}--\n", ""]))
    return "\n".join(headers) + "\n\n" + body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash_the_parser(data):
    assert_report(analyse(data))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mime_messages(), st.sampled_from(["utf-8", "latin-1"]))
def test_random_mime_structures_never_crash_the_parser(text, encoding):
    assert_report(analyse(text.encode(encoding, "replace")))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(range(len(SAMPLE_BYTES))), st.floats(0, 1), st.binary(max_size=40))
def test_truncated_and_corrupted_real_messages_never_crash_the_parser(index, cut, junk):
    data = SAMPLE_BYTES[index]
    n = int(len(data) * cut)
    assert_report(analyse(data[:n] + junk + data[n + len(junk):]))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=1500), mime_messages().map(str.encode)),
       sender=st.sampled_from(["MAILER-DAEMON", "", "x@y.example", "--weird"]))
def test_hook_exits_with_0_or_75_whatever_it_is_fed(tmp_path_factory, data, sender):
    base = tmp_path_factory.mktemp("hook")
    err = io.StringIO()
    code = hook.main(["--db", str(base / "b.sqlite3"), "--quarantine", str(base / "q"),
                      "--secret-file", str(base / "none"), "--", sender, "bounces@example.org"],
                     stdin=io.BytesIO(data), stderr=err)
    assert code in (0, 75)
    assert code == 0, err.getvalue()  # with a writable database, always recorded


def test_the_top_level_guard_turns_any_parser_error_into_not_bounce(monkeypatch):
    from mailops.bounce import parse

    data = (FIXTURES / "postfix_user_unknown.eml").read_bytes()
    assert parse_bytes(data).kind == "dsn"

    def broken(*args, **kwargs):
        raise RuntimeError("a bug the fuzzing has not found yet")

    monkeypatch.setattr(parse, "_parse", broken)
    with pytest.raises(RuntimeError):
        analyse(data)
    report = parse_bytes(data)
    assert (report.kind, report.bounces) == ("not-bounce", [])


def test_the_hook_quarantines_what_the_parser_cannot_handle(monkeypatch, tmp_path):
    from mailops.bounce import parse

    monkeypatch.setattr(parse, "_parse", lambda *a, **k: 1 / 0)
    data = (FIXTURES / "postfix_user_unknown.eml").read_bytes()
    code = hook.main(["--db", str(tmp_path / "b.sqlite3"), "--quarantine", str(tmp_path / "q"),
                      "--secret-file", str(tmp_path / "none"), "--", "MAILER-DAEMON",
                      "bounces@example.org"], stdin=io.BytesIO(data), stderr=io.StringIO())
    assert code == 0
    assert [p.read_bytes() for p in (tmp_path / "q").iterdir()] == [data]
