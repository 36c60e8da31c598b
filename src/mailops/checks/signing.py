"""Is the domain's mail DKIM-signed, with the key the keystore says, and does it verify?

The records themselves are compared by checks.records; this asks the running
OpenDKIM on each host to sign a probe (mailops.dkim.probe) and verifies it
against the keystore and every authoritative server. A domain without an active
key is not signed at all — the deploy never creates a key — and the finding
names the command that starts its signing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dkim.keystore import Keystore
from .report import DEPLOY, DKIM_START, FAIL, OK, WARN, Finding

if TYPE_CHECKING:
    from ..inventory import InventoryHost as MailHost
    from .posture import Context


def check_dkim_signing(ctx: Context, domain: str, serving: list[MailHost]) -> list[Finding]:
    ks = Keystore(serving[0].settings.keystore, create=False)
    active = ks.signing_key(domain)
    if active is None:
        pending = ks.pending_key(domain)
        return [Finding(
            domain, "DKIM signing", FAIL,
            "not signed: no key has been published, deployed and probed for it yet"
            + (f" (key {pending.selector} is pending)" if pending else ""),
            "mail signed with an active key whose record every authoritative server serves",
            "receivers see no DKIM signature: DMARC rests on SPF alone, and forwarded mail "
            "fails it", DKIM_START.format(domain=domain, inv=ctx.inventory))]
    if ctx.probe is None:
        return [Finding(domain, "DKIM signing", WARN,
                        "not checked: the signing probe was turned off")]
    try:
        ctx.probe(serving, domain, active)
    except Exception as e:  # noqa: BLE001 - ProbeFailed, SSH errors: all reported
        return [Finding(domain, "DKIM signing", FAIL, str(e)[:500],
                        f"the host signs with {active.selector} and it verifies",
                        "receivers see no valid DKIM signature",
                        DEPLOY.format(inv=ctx.inventory))]
    return [Finding(domain, "DKIM signing", OK,
                    f"a fresh probe signed with {active.selector} verifies")]
