"""Long work says what it waits for and for how long; plain lines when not on a terminal."""

from __future__ import annotations

import io
import re

from rich.console import Console

from mailops.cli.progress import Progress, wait_reporter
from mailops.dns.wait import WaitProgress


def test_in_a_log_each_step_and_each_change_of_a_wait_is_one_plain_line():
    out = io.StringIO()
    with Progress("dns wait", Console(file=out, force_terminal=False, soft_wrap=True)) as p:
        p.step("2 record(s) on every authoritative name server (up to 300s)")
        report = wait_reporter(p)
        pending = ("x._domainkey.example.test TXT @ 192.0.2.53:53",)
        report(WaitProgress(1, 2, 0.5, pending))
        report(WaitProgress(1, 2, 1.5, pending))  # nothing new: no new line
        report(WaitProgress(2, 2, 2.5, ()))
    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()  # no terminal codes in a log
    assert lines[0] == "dns wait: 2 record(s) on every authoritative name server (up to 300s) …"
    assert re.fullmatch(r"dns wait: .*: 1/2 record/server pairs served — waiting for "
                        r"x\._domainkey\.example\.test TXT @ 192\.0\.2\.53:53 \(\d+\.\ds\)",
                        lines[1]), lines[1]
    assert "2/2 record/server pairs served" in lines[2]
    assert re.fullmatch(r"dns wait: .* — done in \d+\.\ds", lines[3]), lines[3]
    assert len(lines) == 4


def test_a_step_that_fails_says_it_stopped_and_after_how_long():
    out = io.StringIO()
    try:
        with Progress("lab", Console(file=out, force_terminal=False)) as p:
            p.step("booting mx1")
            raise RuntimeError("no")
    except RuntimeError:
        pass
    assert re.search(r"lab: booting mx1 — stopped in \d+\.\ds", out.getvalue())
