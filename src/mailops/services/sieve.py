"""Dovecot Sieve (Pigeonhole): spam into Junk at delivery, and learning from users moving
mail into or out of Junk (IMAPSieve -> rspamc), per the Dovecot 2.3 "IMAPSieve" and
rspamd "Integration with Dovecot" documentation."""

from __future__ import annotations

from typing import Any

from .rspamd import RSPAMD_CONTROLLER

SIEVE_DIR = "/etc/dovecot/sieve"
# sieve_pipe_bin_dir: the only programs the pipe extension may run.
PIPE_DIR = "/etc/dovecot/sieve-pipe"
SCRIPTS = ("spam-to-junk.sieve", "learn-spam.sieve", "learn-ham.sieve")
LEARN_KINDS = ("spam", "ham")


def sieve_context() -> dict[str, Any]:
    """Template variables for templates/dovecot/sieve/* and dovecot.conf's Sieve block."""
    return {
        "sieve_dir": SIEVE_DIR,
        "pipe_dir": PIPE_DIR,
        "controller": RSPAMD_CONTROLLER.removeprefix("http://"),
    }
