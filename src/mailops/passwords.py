"""Password hashes Dovecot understands (doveadm pw -s ARGON2ID makes the same format)."""

from __future__ import annotations


def hash_password(password: str) -> str:
    from argon2 import PasswordHasher

    # Dovecot's {ARGON2ID} scheme takes the PHC string argon2-cffi produces.
    # Parameters kept moderate: Dovecot verifies on every IMAP/SMTP login.
    return "{ARGON2ID}" + PasswordHasher(time_cost=3, memory_cost=65536, parallelism=1).hash(
        password
    )
