"""Which Debian release a host runs, and whether mailops can deploy to it.

The deploy renders each service's configuration for the release it finds on
the host (Dovecot 2.3 on Debian 12, Dovecot 2.4 on Debian 13 — a 2.3
dovecot.conf does not load in 2.4). Every release is a different set of
package versions and configuration syntaxes, so a release that was not
checked here — an older Debian, a newer one, a Debian derivative — stops the
deploy before anything on the host is touched, naming what it found.

Input is pyinfra's `server.LinuxDistribution` fact: os-release(5) fields in
`release_meta`, the version number in `major`.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    """A Debian release mailops deploys to, with the service versions that shape configs."""

    version: int  # Debian major version, os-release VERSION_ID
    codename: str  # os-release VERSION_CODENAME
    dovecot: str  # "2.3" or "2.4": two configuration syntaxes
    postfix: str  # upstream version Debian ships (compatibility levels, defaults)

    @property
    def name(self) -> str:
        return f"Debian {self.version} ({self.codename})"


# The releases checked in the lab (real hosts, the whole lab suite). Debian 12 is
# oldstable with LTS until mid-2028 (https://wiki.debian.org/LTS); Debian 13 is stable.
SUPPORTED = {
    12: Release(12, "bookworm", dovecot="2.3", postfix="3.7"),
    13: Release(13, "trixie", dovecot="2.4", postfix="3.10"),
}


class UnsupportedRelease(ValueError):
    """The host runs something mailops has no checked configuration for."""


def supported_names() -> str:
    return ", ".join(r.name for r in SUPPORTED.values())


def describe(distro: Mapping) -> str:
    """What the host says it runs, in os-release's own words (PRETTY_NAME if any)."""
    meta = distro.get("release_meta") or {}
    pretty = meta.get("PRETTY_NAME")
    if pretty:
        return str(pretty)
    name = distro.get("name") or meta.get("ID") or "an unknown system"
    version = distro.get("major")
    return f"{name} {version}" if version is not None else str(name)


def host_release(distro: Mapping | None, host: str = "the host") -> Release:
    """The supported release described by a LinuxDistribution fact, or UnsupportedRelease.

    Debian testing/unstable carry no VERSION_ID in os-release (os-release(5));
    they are refused like any release that has not been checked.
    """
    distro = distro or {}
    meta = distro.get("release_meta") or {}
    found = describe(distro)
    advice = (f"mailops deploys to {supported_names()}; install one of them on {host} "
              "(or upgrade it: see README, \"Debian releases\") and deploy again. "
              "Nothing was changed on the host.")
    if str(meta.get("ID", "")).lower() != "debian":
        raise UnsupportedRelease(f"{host}: found {found}; expected Debian. {advice}")
    try:
        version = int(str(meta.get("VERSION_ID") or distro.get("major") or "").split(".")[0])
    except ValueError:
        version = None
    if version not in SUPPORTED:
        codename = meta.get("VERSION_CODENAME")
        detail = f" ({codename})" if codename and codename not in found else ""
        raise UnsupportedRelease(
            f"{host}: found {found}{detail}, a Debian release mailops has not been checked "
            f"on. {advice}")
    return SUPPORTED[version]


# Host -> its release: pyinfra (3.x) keeps no fact cache, and every read is a round trip.
_OF_HOST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def of_host() -> Release:
    """The release of the host pyinfra is deploying to (a fact, read once per host)."""
    from pyinfra import host
    from pyinfra.context import ctx_host
    from pyinfra.facts.server import LinuxDistribution

    this = ctx_host.get()  # the Host itself, not pyinfra's context proxy
    if this not in _OF_HOST:
        _OF_HOST[this] = host_release(host.get_fact(LinuxDistribution), host.name)
    return _OF_HOST[this]
