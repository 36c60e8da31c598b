"""The bounce hook's work: one message on stdin -> one transaction in SQLite.

The host package's hook.py (mailops.onhost.hook) is the script Postfix runs; it
only imports this module, because Python compiles a script's source on every run
but an imported module once (its byte code is cached, and the deploy
byte-compiles the installed package). Exit codes, options and the master.cf
line: see mailops.bounce.hook.
"""


import sys

EX_OK = 0
EX_TEMPFAIL = 75
MAX_MESSAGE_BYTES = 50 * 1024 * 1024


def _modules():
    from . import config, parse, store, verp

    return config, parse, store, verp


class _Usage(Exception):
    pass


def _args(argv: list[str]) -> tuple[dict, list[str]]:
    opts: dict = {}
    positional: list[str] = []
    names = {"--db": "db_path", "--quarantine": "quarantine_dir", "--secret-file": "secret_file"}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positional.extend(argv[i + 1:])
            break
        key, eq, value = arg.partition("=")
        if key in names:
            if not eq:
                i += 1
                if i >= len(argv):
                    raise _Usage(f"{key} needs a value")
                value = argv[i]
            opts[names[key]] = value
        elif arg.startswith("--") and len(arg) > 2:
            raise _Usage(f"unknown option {arg}")
        else:
            positional.append(arg)
        i += 1
    if len(positional) > 2:
        raise _Usage("expected: SENDER RECIPIENT")
    return opts, positional


def quarantine(directory: str, data: bytes) -> str:
    """Write ``data`` to the quarantine directory (0600, atomic, named by its
    hash so a retried delivery overwrites instead of duplicating)."""
    import hashlib
    import os
    import time

    os.makedirs(directory, mode=0o700, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:24]
    name = time.strftime("%Y%m%d", time.gmtime()) + "-" + digest + ".eml"
    path = os.path.join(directory, name)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None, stdin=None, stderr=None) -> int:
    stderr = stderr or sys.stderr
    try:
        return _main(sys.argv[1:] if argv is None else argv, stdin, stderr)
    except BaseException as exc:  # noqa: BLE001 - never a permanent failure
        if isinstance(exc, SystemExit) and exc.code in (EX_OK, EX_TEMPFAIL):
            return exc.code
        _say(stderr, f"mailops bounce hook: temporary failure: {type(exc).__name__}")
        return EX_TEMPFAIL


def _say(stderr, text: str) -> None:
    try:
        print(text, file=stderr)
    except Exception:
        pass


def _main(argv: list[str], stdin, stderr) -> int:
    import posix  # for umask, which os re-exports: os itself costs ~0.5 ms to import

    try:
        opts, positional = _args(argv)
    except _Usage as exc:
        # A broken master.cf line is our fault, not the message's: keep the
        # mail queued (75) until the operator fixes it.
        _say(stderr, f"mailops bounce hook: {exc}")
        return EX_TEMPFAIL
    sender = positional[0] if positional else None
    recipient = positional[1] if len(positional) > 1 else None
    config, parse, store, verp = _modules()
    try:
        cfg = config.from_env(**opts)
    except ValueError as exc:
        _say(stderr, f"mailops bounce hook: {exc}")
        return EX_TEMPFAIL

    stream = stdin if stdin is not None else sys.stdin.buffer
    data = stream.read(MAX_MESSAGE_BYTES)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")

    try:
        report = parse.parse_bytes(data)
    except Exception:
        report = None
    unparseable = report is None or report.kind == "not-bounce" or (
        report.kind in ("dsn", "legacy", "arf") and not report.bounces)

    # Group-readable database (Postfix's proxymap reads it); the quarantine
    # files are written 0600 explicitly.
    old_umask = posix.umask(0o007)
    try:
        qpath = quarantine(cfg.quarantine_dir, data) if unparseable else None
        conn = store.connect(cfg.db_path, busy_timeout_ms=cfg.busy_timeout_ms)
        try:
            store.record(
                conn, report, envelope_sender=sender, envelope_recipient=recipient,
                secret=verp.load_secret(cfg.secret_file), quarantine=qpath,
                soft_threshold=cfg.soft_threshold, soft_window_days=cfg.soft_window_days,
                token_max_age_days=cfg.token_max_age_days,
            )
        finally:
            conn.close()
    except Exception as exc:  # OSError, sqlite3.Error: locked, read-only, disk full, ...
        # The message text says what failed (never the secret: it is not in
        # any exception we raise); Postfix logs it with the deferral.
        _say(stderr, f"mailops bounce hook: cannot record now, will retry: {exc}")
        return EX_TEMPFAIL
    finally:
        posix.umask(old_umask)
    return EX_OK
