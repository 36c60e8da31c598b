"""The host's own recursive resolver: unbound on the loopback, validating DNSSEC.

Why a resolver of its own: DNS blocklists refuse queries that reach them through
public or shared resolvers (Spamhaus answers 127.255.255.254, which a careless
config reads as "listed"), DANE (RFC 7672 §2.2) needs answers the host validated
itself, and SPF/DKIM/DMARC verification of every inbound message is a lot of
lookups a local cache answers at once. Postfix (through /etc/resolv.conf), rspamd
and OpenDKIM ask 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..inventory import MailSettings

UNBOUND_CONF = "/etc/unbound/unbound.conf"
RESOLV_CONF = "/etc/resolv.conf"
RESOLVER_ADDRESS = "127.0.0.1"
# Debian's unbound keeps the RFC 5011 root trust anchor here (unbound-helper copies it
# from dns-root-data at start and unbound keeps it current).
ROOT_KEY = "/var/lib/unbound/root.key"
CONTROL_SOCKET = "/run/unbound.ctl"

# Special-use names (RFC 6761, RFC 7686) unbound answers itself unless told not to
# (unbound.conf(5), local-zone defaults).
SPECIAL_USE_TLDS = {"test", "invalid", "localhost", "onion", "local", "example"}


def _private_forwarders(settings: MailSettings) -> bool:
    return any(ipaddress.ip_address(a).is_private for a in settings.resolver.forwarders)


def unbound_context(settings: MailSettings) -> dict[str, Any]:
    """Template variables for templates/unbound/unbound.conf.j2."""
    r = settings.resolver
    names = [d.name for d in settings.domains] + list(r.insecure) + [
        s.split("=", 1)[0] for s in settings.inbound.dnsbl]
    return {
        "forwarders": list(r.forwarders),
        "insecure": sorted({z.rstrip(".") for z in r.insecure}),
        "nodefault": sorted({n.rstrip(".").rsplit(".", 1)[-1] for n in names}
                            & SPECIAL_USE_TLDS),
        # Forwarders on a private network usually serve its reverse zones (RFC 6303
        # zones unbound would otherwise answer itself).
        "unblock_lan_zones": _private_forwarders(settings),
        "root_key": ROOT_KEY,
        "control_socket": CONTROL_SOCKET,
        "address": RESOLVER_ADDRESS,
    }
