"""The Postfix bounce hook: one message on stdin -> one transaction in SQLite.

Runs on the mail host with the system Python 3.11 and the standard library
only, either as a module or as a plain file beside its sibling modules
(hookmain, parse, store, ...; the deploy installs them together)::

    python3 -S -m mailops.bounce.hook [options] SENDER RECIPIENT
    python3 -S /usr/local/lib/mailops/bounce/hook.py [options] SENDER RECIPIENT

Options: ``--db PATH``, ``--quarantine DIR``, ``--secret-file PATH`` (defaults
and environment variables: see config.py).

Postfix master.cf (pipe(8) expands a null sender to MAILER-DAEMON)::

    mailops-bounce unix - n n - - pipe
      flags=Rq user=mailops-bounce argv=/usr/bin/python3 -S
      /usr/local/lib/mailops/bounce/hook.py --db /var/lib/mailops/bounces.sqlite3
      --quarantine /var/lib/mailops/quarantine --secret-file /etc/mailops/bounce-secret
      ${sender} ${recipient}

Exit codes (sysexits.h, which pipe(8) understands):

- 0  recorded (including "could not parse it": the message is written to
     the quarantine directory and a row records it);
- 75 EX_TEMPFAIL: cannot record right now (database locked beyond the busy
     timeout, disk full, read-only file system, bad configuration): Postfix
     keeps the message queued and retries.

It never exits with a permanent failure code: a bounce must never bounce.
Imports are lazy so a run costs little more than the interpreter start.
"""

from __future__ import annotations

import sys

if __package__:
    from .hookmain import EX_OK, EX_TEMPFAIL, MAX_MESSAGE_BYTES, main, quarantine
else:  # run as a file: the sibling modules are on sys.path[0]
    from hookmain import EX_OK, EX_TEMPFAIL, MAX_MESSAGE_BYTES, main, quarantine  # type: ignore

__all__ = ["EX_OK", "EX_TEMPFAIL", "MAX_MESSAGE_BYTES", "main", "quarantine"]

if __name__ == "__main__":
    sys.exit(main())
