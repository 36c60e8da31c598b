"""The inventory's ``delivery_log`` and ``status_mail`` keys: what a host records about
the mail it handles, and what it reports about itself.

Every default is beside its field (DESIGN.md convention 7).
"""

from __future__ import annotations

from typing import Annotated

from .base import InventoryModel
from .types import DnsName, Flag, List, OptionalAddress, Whole


class DeliveryLog(InventoryModel):
    """``delivery_log``: the per-message log on the host (`mailops messages`, `trace`)."""

    # Days a message stays in the log after it was last seen; older rows are pruned.
    retention_days: Whole(1, 3650) = 30
    # Keep each message's Subject. Off by default: subjects are personal data (GDPR
    # art. 5(1)(c), data minimisation). On, Postfix logs the Subject header of every
    # message (a header_checks INFO rule, header_checks(5)) and the log keeps it.
    subjects: Flag = False


class StatusMail(InventoryModel):
    """``status_mail``: the host's daily status mail (README "Daily status mail")."""

    enabled: Flag = True  # False: the deploy removes the timer; no mail is sent
    to: OptionalAddress = ""  # default: postmaster@<first hosted domain>
    # Blocklist zones the HOST looks its addresses up in through its own resolver;
    # default (absent): the host's ``blocklists``. [] : none.
    dnsbl: Annotated[tuple[DnsName, ...], List] | None = None
