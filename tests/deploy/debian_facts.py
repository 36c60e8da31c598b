"""Facts of Debian hosts, as the deploy tests fake them."""

from __future__ import annotations


def debian(version: int, codename: str) -> dict:
    """pyinfra's LinuxDistribution fact of a Debian host (os-release fields)."""
    return {"name": "Debian", "major": version, "minor": None,
            "release_meta": {"ID": "debian", "VERSION_ID": str(version),
                             "VERSION_CODENAME": codename,
                             "PRETTY_NAME": f"Debian GNU/Linux {version} ({codename})"}}
