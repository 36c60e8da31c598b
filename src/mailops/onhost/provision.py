"""One-time state the deploy makes on the host: the bounce database and the VERP secret."""

import os

from ._bounce import store


def init_db(path: str) -> bool:
    """Create the bounce database (schema, WAL mode) unless it exists; True if made."""
    existed = os.path.exists(path)
    old = os.umask(0o007)  # group postfix reads it (proxymap): see tasks/bounce.py
    try:
        store.connect(path).close()
    finally:
        os.umask(old)
    return not existed


def new_secret(path: str) -> bool:
    """Write 32 random bytes (hex) to ``path``, created 0600, unless it exists; True if made.

    The value goes from the kernel's CSPRNG (secrets, PEP 506) straight into the file:
    never in argv, on stdout or in a log. An existing secret is never replaced: that
    would invalidate every token in flight.
    """
    import secrets

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    return True
