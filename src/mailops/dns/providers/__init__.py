"""DNS providers mailops publishes through; chosen per domain by ``dns.provider``.

Imported lazily so `mailops dns zone` needs neither dnspython's update code
nor the Cloudflare SDK.
"""

from __future__ import annotations

from collections.abc import Mapping

from ...inventory import DnsProvider
from .base import Provider, ProviderError, RRset

__all__ = ["Provider", "ProviderError", "RRset", "get_provider"]


def get_provider(config: DnsProvider, domain: str,
                 env: Mapping[str, str] | None = None) -> Provider:
    if config.kind == "rfc2136":
        from .rfc2136 import Rfc2136Provider
        return Rfc2136Provider(config, domain, env)
    if config.kind == "cloudflare":
        from .cloudflare import CloudflareProvider
        return CloudflareProvider(config, domain, env)
    raise ProviderError(domain, f"dns.provider is {config.kind!r}, which has no API",
                        "publish the records printed by `mailops dns zone` by hand")
