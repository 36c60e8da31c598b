"""Progress of long work on stderr: what is being done or waited for, and for how long.

On a terminal a rich spinner line shows the current step with its elapsed time and
each finished step stays as a line with its duration; otherwise (a pipe, a log, CI)
plain lines are printed — one when a step starts, one when it ends — and a wait's
detail only when it changes, so logs stay short. stdout is left to results.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.status import Status


class Progress:
    """``with Progress("lab") as p: p.step("booting mx1"); p.detail("3/4 ready")``."""

    def __init__(self, prefix: str, console: Console | None = None):
        self.prefix = prefix
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True)
        self.tty = self.console.is_terminal
        self._status: Status | None = None
        self._step = ""
        self._detail = ""
        self._started = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._finish(ok=exc_type is None)

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self._started:.1f}s"

    def _finish(self, ok: bool = True) -> None:
        if not self._step:
            return
        mark = "done" if ok else "stopped"
        if self._status is not None:
            self._status.stop()
            self._status = None
        self.console.print(f"{self.prefix}: {self._step} — {mark} in {self._elapsed()}",
                           markup=False)
        self._step = ""

    def step(self, text: str) -> None:
        """A new step begins (the previous one, if any, is done)."""
        self._finish()
        self._step, self._detail, self._started = text, "", time.monotonic()
        if self.tty:
            self._status = self.console.status(self._line())
            self._status.start()
        else:
            self.console.print(f"{self.prefix}: {text} …", markup=False)

    def detail(self, text: str) -> None:
        """What the current step is waiting for now (shown when it changes)."""
        if text == self._detail:
            if self._status is not None:
                self._status.update(self._line())  # the elapsed time moves on
            return
        self._detail = text
        if self._status is not None:
            self._status.update(self._line())
        else:
            self.console.print(f"{self.prefix}: {self._step}: {text} ({self._elapsed()})",
                               markup=False)

    def note(self, text: str) -> None:
        """A line of its own that is not a step (e.g. the last summary)."""
        self._finish()
        self.console.print(f"{self.prefix}: {text}", markup=False)

    def _line(self) -> str:
        from rich.markup import escape

        tail = f" — {self._detail}" if self._detail else ""
        return escape(f"{self.prefix}: {self._step} ({self._elapsed()}){tail}")


def wait_reporter(progress: Progress):
    """A ``progress`` callback for mailops.dns.wait.wait_for that feeds ``progress``."""

    def report(p) -> None:
        waiting = f" — waiting for {p.waiting[0]}" if p.waiting else ""
        more = f" (+{len(p.waiting) - 1} more)" if len(p.waiting) > 1 else ""
        progress.detail(f"{p.ready}/{p.total} record/server pairs served{waiting}{more}")

    return report


@contextmanager
def waiting(prefix: str, title: str) -> Iterator:
    """One wait as one step: ``with waiting("rotate-dkim", "TXT …") as report: wait_for(…,
    progress=report)`` (mailops.dkim.ports takes it as its ``waiting``)."""
    with Progress(prefix) as progress:
        progress.step(title)
        yield wait_reporter(progress)
