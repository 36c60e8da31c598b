"""VERP return paths whose token binds one recipient: unforgeable, stdlib only.

Return path
    ``bounces+<token>@<domain>`` (Postfix ``recipient_delimiter = +`` delivers
    it to ``bounces@<domain>``, and the hook gets the full address as
    ``${recipient}``).  ``bounces@<domain>`` without a token is allowed too;
    such bounces can only be verified by Message-ID.

Token format (version 1)
    24 characters, lowercase RFC 4648 base32 without padding (``a-z2-7``:
    survives MTAs that change the case of local parts, contains no ``+``,
    ``-`` or ``=``), encoding 15 bytes::

        byte  0       version, 0x01
        bytes 1-2     day number: days since 1970-01-01 UTC, mod 65536, big-endian
        bytes 3-14    first 12 bytes (96 bits) of
                      HMAC-SHA256(secret, b"mailops-verp-v1\\0" + day(2 bytes)
                                  + b"\\0" + normalised recipient, UTF-8)

    The normalised recipient is the address stripped of spaces and ``<>`` and
    lowercased.  The full return path is ``bounces+`` + 24 = 32 characters of
    local part, well inside the 64 octets of RFC 5321 §4.5.3.1.1, whatever
    the recipient's length or script.

Identification
    The token does not carry the address in clear (it would not fit 64
    octets): it *identifies* the recipient by binding it.  :func:`check_token`
    is given the recipients the bounce names and returns the one the token
    was made for, or None.  Forging a token for an address needs the host
    secret (96-bit MAC); a token older than ``max_age_days`` is refused, so a
    captured return path cannot be replayed for ever.

The secret lives in a file (default /etc/mailops/bounce-secret, 0640
root:<hook user>); it is never printed or logged.
"""


import time

VERSION = 1
TOKEN_LENGTH = 24
_DOMAIN_SEP = b"mailops-verp-v1\0"
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz234567")  # RFC 4648 base32, lowercase


def _is_token(text: str) -> bool:
    # A set test rather than a regex: the hook compiles nothing it can avoid.
    return len(text) == 24 and _TOKEN_CHARS.issuperset(text)
MIN_SECRET_BYTES = 16


def normalise(address: str) -> str:
    return address.strip().strip("<>").strip().lower()


def today(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 86400)


def _mac(secret: bytes, day: int, recipient: str) -> bytes:
    import hashlib
    import hmac

    msg = _DOMAIN_SEP + (day % 65536).to_bytes(2, "big") + b"\0" + normalise(recipient).encode()
    return hmac.new(secret, msg, hashlib.sha256).digest()[:12]


def make_token(secret: bytes, recipient: str, *, day: int | None = None) -> str:
    """The token for mail sent to ``recipient`` (today, unless ``day`` is given)."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the VERP secret must be at least {MIN_SECRET_BYTES} bytes")
    day = today() if day is None else day
    import base64

    raw = bytes([VERSION]) + (day % 65536).to_bytes(2, "big") + _mac(secret, day, recipient)
    return base64.b32encode(raw).decode("ascii").lower()


def return_path(secret: bytes, recipient: str, domain: str, *, local: str = "bounces",
                day: int | None = None) -> str:
    """The envelope sender to use for one recipient: bounces+<token>@domain."""
    return f"{local}+{make_token(secret, recipient, day=day)}@{domain}"


def token_from_address(address: str | None, *, local: str = "bounces") -> str | None:
    """The token of ``bounces+<token>@domain``, or None (no token / other address)."""
    if not address:
        return None
    localpart = normalise(address).rsplit("@", 1)[0]
    base, sep, extension = localpart.partition("+")
    if not sep or base != local:
        return None
    return extension if _is_token(extension) else None


def check_token(secret: bytes | None, token: str | None, candidates, *, now: float | None = None,
                max_age_days: int = 30) -> str | None:
    """The candidate recipient ``token`` was made for, or None.

    None when there is no secret, the token is malformed, its version is
    unknown, it is older than ``max_age_days`` (or dated in the future), or
    its MAC matches none of the candidates.
    """
    if not secret or not token or not _is_token(token):
        return None
    import base64
    import hmac

    try:
        raw = base64.b32decode(token.upper())
    except (ValueError, TypeError):
        return None
    if len(raw) != 15 or raw[0] != VERSION:
        return None
    day16 = int.from_bytes(raw[1:3], "big")
    current = today(now)
    age = (current - day16) % 65536
    if age > max_age_days and age != 65535:  # 65535: dated tomorrow (clock skew)
        return None
    for candidate in candidates:
        if candidate and hmac.compare_digest(_mac(secret, day16, candidate), raw[3:]):
            return normalise(candidate)
    return None


def load_secret(path: str) -> bytes | None:
    """The host secret from ``path``, or None when absent/unreadable/too short.

    The file holds any string of at least 16 bytes (e.g. 64 hex characters
    from ``python3 -c 'import secrets; print(secrets.token_hex(32))'``).
    """
    try:
        with open(path, "rb") as fh:
            secret = fh.read().strip()
    except OSError:
        return None
    return secret if len(secret) >= MIN_SECRET_BYTES else None
