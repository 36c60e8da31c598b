"""OpenDKIM: the keys each hosted domain signs with, as they sit on the host, and
opendkim.conf values (tasks/opendkim.py renders templates/opendkim/*.j2 with them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..inventory import MailSettings

# The socket's directory and spool are re-exported: the DKIM probe talks to the socket.
from .paths import OPENDKIM_SOCKET, OPENDKIM_SOCKET_DIR, POSTFIX_SPOOL, MailhostError  # noqa: F401
from .postfix import hosted_domains
from .postfix import unique as _unique

OPENDKIM_CONF = "/etc/opendkim.conf"  # the path Debian's opendkim.service reads
OPENDKIM_DIR = "/etc/opendkim"
OPENDKIM_KEYS_DIR = "/etc/opendkim/keys"
OPENDKIM_UNBOUND_CONF = "/etc/opendkim/unbound.conf"  # used only with settings.resolvers


@dataclass(frozen=True)
class DkimKey:
    """One signing key as it will sit on the host (no key material here)."""

    domain: str
    selector: str
    keys_dir: str = OPENDKIM_KEYS_DIR

    @property
    def name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def host_path(self) -> str:
        return f"{self.keys_dir}/{self.domain}/{self.selector}.private"


def dkim_keys(selectors: Mapping[str, str], keys_dir: str = OPENDKIM_KEYS_DIR) -> list[DkimKey]:
    """domain -> active selector, as DkimKey entries sorted by domain."""
    return [DkimKey(d.lower(), s, keys_dir) for d, s in sorted(selectors.items())]


def dkim_signature_algorithm(settings: MailSettings) -> str:
    """OpenDKIM's SignatureAlgorithm: one per instance (opendkim.conf(5)).

    OpenDKIM 2.11 signs every key with the one configured algorithm, so RSA and
    Ed25519 (RFC 8463) domains cannot be mixed on one host.
    """
    algorithms = {d.dkim_algorithm for d in settings.domains}
    ed = {a for a in algorithms if a == "ed25519"}
    if ed and ed != algorithms:
        mixed = ", ".join(f"{d.name}={d.dkim_algorithm}" for d in settings.domains)
        raise MailhostError(
            f"found DKIM algorithms {mixed}; expected all domains of one host to use RSA or "
            "all to use ed25519 — OpenDKIM 2.11 signs with one algorithm per instance. Set "
            "dkim.algorithm to the same family for every domain of this host (RSA is what "
            "every receiver verifies, RFC 8463 §4)."
        )
    return "ed25519-sha256" if ed else "rsa-sha256"


def trusted_hosts(settings: MailSettings) -> list[str]:
    """OpenDKIM InternalHosts/ExternalIgnoreList: clients whose mail is signed, not verified.

    The loopback (non-SMTP mail is presented to milters as coming from localhost
    127.0.0.1, Postfix MILTER_README) and $mynetworks, which Postfix already trusts to
    relay. Remote submission clients are signed because they authenticate (OpenDKIM
    treats {auth_type} and daemon_name=ORIGINATING as local), not by address.
    """
    out = ["127.0.0.1", "::1", "localhost", settings.hostname.lower()]
    for net in settings.mynetworks:
        out.append(net.replace("[", "").replace("]", ""))
    return _unique(out)


def opendkim_context(settings: MailSettings, selectors: Mapping[str, str],
                     signature_algorithm: str | None = None, *,
                     tables_dir: str = OPENDKIM_DIR, keys_dir: str = OPENDKIM_KEYS_DIR,
                     spool: str = POSTFIX_SPOOL) -> dict[str, Any]:
    """Template variables for templates/opendkim/*.j2.

    ``selectors``: domain -> the selector it signs with, from the signing plan
    (mailops.dkim.plan); a hosted domain not in it is not signed (its first key is
    not yet published and probed). ``signature_algorithm``: the plan's, which follows
    the keys actually deployed; by default the inventory's.
    """
    inventory_algorithm = dkim_signature_algorithm(settings)  # refuses mixed families
    return {
        "hostname": settings.hostname.lower(),
        "keys": dkim_keys(selectors, keys_dir),
        "signature_algorithm": signature_algorithm or inventory_algorithm,
        "trusted_hosts": trusted_hosts(settings),
        "tables_dir": tables_dir,
        "socket": f"{spool}/{OPENDKIM_SOCKET}",
        "resolvers": list(settings.resolvers),
        "unbound_conf": OPENDKIM_UNBOUND_CONF,
        # Unbound answers these special-use TLDs (RFC 6761) itself with NXDOMAIN unless
        # told not to; a hosted domain under one (a lab's .test) must be looked up.
        "special_use_tlds": sorted({d.rsplit(".", 1)[-1] for d in hosted_domains(settings)}
                                   & {"test", "invalid", "localhost", "onion", "local"}),
    }
