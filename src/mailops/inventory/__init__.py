"""The inventory: what the operator describes, typed and checked once at load.

- :mod:`.model` — the typed settings of one mail host, every default beside its field;
- :mod:`.types` — the value formats (domain names, addresses, sizes, …);
- :mod:`.rules` — rules across fields and hosts (SPF lookups, reserved names, ACME);
- :mod:`.load` — the one loader used by ``deploy.py`` and every ``mailops`` command;
- :mod:`.machine` — facts about the operator's machine (files, secrets in the
  environment), checked by the commands that need them.
"""

from .errors import SettingsError
from .load import (
    Inventory,
    InventoryHost,
    check_here,
    domains_of,
    for_deploy,
    load_inventory,
    parse_mail_settings,
)
from .model import (
    DKIM_ALGORITHMS,
    Dkim,
    Dmarc,
    DnsProvider,
    Domain,
    Mailbox,
    MailboxSettings,
    MailSettings,
    MtaSts,
    Spf,
    Tls,
    TlsRpt,
)
from .types import is_address, is_dns_name, is_domain, is_password_hash

__all__ = [
    "DKIM_ALGORITHMS", "Dkim", "Dmarc", "DnsProvider", "Domain", "Inventory", "InventoryHost",
    "MailSettings", "Mailbox", "MailboxSettings", "MtaSts", "SettingsError", "Spf", "Tls",
    "TlsRpt", "check_here", "domains_of", "for_deploy", "is_address", "is_dns_name",
    "is_domain", "is_password_hash", "load_inventory", "parse_mail_settings",
]
