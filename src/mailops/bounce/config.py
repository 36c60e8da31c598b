"""Bounce-handling settings: every default in one place, documented here.

Standard library only (used by the hook on the mail host).

=============================  ==================================  ==============================
setting                        default                             environment variable
=============================  ==================================  ==============================
db_path                        /var/lib/mailops/bounces.sqlite3    MAILOPS_BOUNCE_DB
quarantine_dir                 /var/lib/mailops/quarantine         MAILOPS_BOUNCE_QUARANTINE
secret_file                    /etc/mailops/bounce-secret          MAILOPS_BOUNCE_SECRET_FILE
soft_threshold                 3 soft bounces ...                  MAILOPS_BOUNCE_SOFT_THRESHOLD
soft_window_days               ... within 7 days suppress          MAILOPS_BOUNCE_SOFT_WINDOW_DAYS
token_max_age_days             30 (older VERP tokens are refused)  MAILOPS_BOUNCE_TOKEN_MAX_AGE_DAYS
busy_timeout_ms                2000 (then exit 75, Postfix retries) MAILOPS_BOUNCE_BUSY_TIMEOUT_MS
=============================  ==================================  ==============================

Command-line options of the hook (``--db``, ``--quarantine``,
``--secret-file``) override the environment, which overrides the defaults.
Postfix pipe(8) passes almost no environment, so on the host the paths are
given on the command line in master.cf.

Why these defaults: a hard bounce is certain after one report; a soft one
(mailbox full, expired, remote system error) is only a pattern after several
distinct failures, and a week covers a normal 5-day queue lifetime plus an
absence.  30 days of token validity covers late bounces from forwarders
without letting a captured return path be replayed for ever.
"""


import sys

DEFAULT_DB_PATH = "/var/lib/mailops/bounces.sqlite3"
DEFAULT_QUARANTINE_DIR = "/var/lib/mailops/quarantine"
DEFAULT_SECRET_FILE = "/etc/mailops/bounce-secret"
DEFAULT_SOFT_THRESHOLD = 3
DEFAULT_SOFT_WINDOW_DAYS = 7
DEFAULT_TOKEN_MAX_AGE_DAYS = 30
DEFAULT_BUSY_TIMEOUT_MS = 2000

_ENV = {
    "db_path": "MAILOPS_BOUNCE_DB",
    "quarantine_dir": "MAILOPS_BOUNCE_QUARANTINE",
    "secret_file": "MAILOPS_BOUNCE_SECRET_FILE",
    "soft_threshold": "MAILOPS_BOUNCE_SOFT_THRESHOLD",
    "soft_window_days": "MAILOPS_BOUNCE_SOFT_WINDOW_DAYS",
    "token_max_age_days": "MAILOPS_BOUNCE_TOKEN_MAX_AGE_DAYS",
    "busy_timeout_ms": "MAILOPS_BOUNCE_BUSY_TIMEOUT_MS",
}


_DEFAULTS = {
    "db_path": DEFAULT_DB_PATH,
    "quarantine_dir": DEFAULT_QUARANTINE_DIR,
    "secret_file": DEFAULT_SECRET_FILE,
    "soft_threshold": DEFAULT_SOFT_THRESHOLD,
    "soft_window_days": DEFAULT_SOFT_WINDOW_DAYS,
    "token_max_age_days": DEFAULT_TOKEN_MAX_AGE_DAYS,
    "busy_timeout_ms": DEFAULT_BUSY_TIMEOUT_MS,
}


class BounceConfig:
    """The settings (a plain class: the hook avoids importing dataclasses)."""

    __slots__ = tuple(_DEFAULTS)

    def __init__(self, **values):
        unknown = set(values) - set(_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown bounce settings: {sorted(unknown)}")
        for name, default in _DEFAULTS.items():
            value = values.get(name, default)
            if isinstance(default, int):
                value = int(value)
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("BounceConfig is read-only")

    def __repr__(self) -> str:
        return "BounceConfig(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in _DEFAULTS) + ")"


def from_env(environ: dict | None = None, **overrides) -> BounceConfig:
    """Defaults, then the environment, then explicit (non-None) overrides."""
    env = _environ() if environ is None else environ
    values: dict = {}
    for name, default in _DEFAULTS.items():
        raw = env.get(_ENV[name])
        if raw:
            try:
                values[name] = int(raw) if isinstance(default, int) else raw
            except ValueError as exc:
                raise ValueError(f"{_ENV[name]}={raw!r}: expected a whole number") from exc
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BounceConfig(**values)


def _environ():
    """os.environ where os is loaded; in the bounce hook, which needs nothing else of
    os, the process environment from posix (what os.environ is built from, decoded the
    same way, PEP 383) instead of importing os for it: about 0.5 ms per bounce."""
    os = sys.modules.get("os")
    if os is not None:
        return os.environ
    import posix

    return {k.decode("utf-8", "surrogateescape"): v.decode("utf-8", "surrogateescape")
            for k, v in posix.environ.items()}
