"""Remove a retired DKIM private key from the host — never one OpenDKIM still uses."""

import os


def remove_key(path: str, key_table: str) -> dict:
    """``{"result": True}`` removed, ``{"result": False}`` already gone, or an error.

    Refused (``"in_use": True``) while the KeyTable (opendkim.conf(5) KeyTable) names
    the file: OpenDKIM would fail every message it signs with that key.
    """
    try:
        with open(key_table, encoding="utf-8", errors="replace") as f:
            if path in f.read():
                return {"error": f"still named in {key_table}", "in_use": True}
    except FileNotFoundError:
        pass
    try:
        os.unlink(path)
    except FileNotFoundError:
        return {"result": False}
    return {"result": True}
