"""rspamd (and its Redis): SPF/DKIM/DMARC/ARC verification, spam scoring and greylisting
for mail arriving on port 25, as a milter (tasks/rspamd.py renders templates/rspamd/).

Only port 25: Postfix's submission services and local mail (sendmail, pickup) never
pass through it (master.cf). If rspamd does not answer, Postfix tempfails the message
(milter default_action = tempfail): the sending MTA retries, nothing is accepted
unfiltered and nothing is lost.
"""

from __future__ import annotations

import re
from typing import Any

from ..inventory import MailSettings
from .resolver import RESOLVER_ADDRESS

RSPAMD_LOCAL_D = "/etc/rspamd/local.d"
RSPAMD_OVERRIDE_D = "/etc/rspamd/override.d"
# The packaged rspamd.conf binds the proxy (milter) worker to localhost:11332 and the
# controller to localhost:11334; loopback only.
RSPAMD_MILTER = "inet:127.0.0.1:11332"
RSPAMD_CONTROLLER = "http://127.0.0.1:11334"
CONTROLLER_SECRET = f"{RSPAMD_LOCAL_D}/controller-secret.inc"
REDIS_CONF = "/etc/redis/redis.conf"
REDIS_SOCKET = "/run/redis/redis-server.sock"
REDIS_MAXMEMORY = "256mb"

# local.d files rendered whole from templates/rspamd/<name>.j2.
LOCAL_FILES = ("options.inc", "actions.conf", "greylist.conf", "dmarc.conf",
               "milter_headers.conf", "dkim_signing.conf", "arc.conf", "rbl.conf",
               "redis.conf", "classifier-bayes.conf", "history_redis.conf", "settings.conf",
               "worker-controller.inc", "worker-proxy.inc")
# override.d files (they replace keys instead of merging): templates/rspamd/override.d/.
OVERRIDE_FILES = ("options.inc",)


def wait_for_milter_command(timeout: int = 300) -> str:
    """A shell command that returns once rspamd's milter (proxy worker) accepts a TCP
    connection, or fails after ``timeout`` seconds naming the port."""
    host, port = RSPAMD_MILTER.removeprefix("inet:").rsplit(":", 1)
    tries = timeout * 2
    return (f"for i in $(seq 1 {tries}); do "
            f"bash -c 'exec 3<>/dev/tcp/{host}/{port}' 2>/dev/null && exit 0; sleep 0.5; "
            f"done; echo 'rspamd does not listen on {host}:{port} after {timeout} s: "
            "see journalctl -u rspamd and /var/log/rspamd/rspamd.log' >&2; exit 1")


def _local_addrs(settings: MailSettings) -> list[str]:
    nets = ["127.0.0.0/8", "::1"]
    for net in settings.mynetworks:
        plain = net.replace("[", "").replace("]", "")
        if plain not in nets:
            nets.append(plain)
    return nets


def domain_overrides(settings: MailSettings) -> list[dict[str, Any]]:
    """Per hosted domain, where it differs from the host (inbound.domains)."""
    out = []
    for d in settings.domains:
        if d.name not in settings.inbound.domains:
            continue
        o = settings.inbound.for_domain(d.name)
        if o.filter and o.greylisting == settings.inbound.greylisting and \
                o.dmarc_enforce == settings.inbound.dmarc_enforce:
            continue
        out.append({"id": "mailops_" + re.sub(r"[^a-z0-9]", "_", d.name), "name": d.name,
                    "filter": o.filter, "greylisting": o.greylisting,
                    "dmarc_enforce": o.dmarc_enforce})
    return out


def allowed_clients(settings: MailSettings) -> list[str]:
    """Clients neither postscreen nor greylisting ever hold up: the host's own addresses
    and the inventory's inbound.allow (relays, backup MX, partners)."""
    return list(dict.fromkeys([*settings.ipv4, *settings.ipv6, *settings.inbound.allow]))


def postscreen_context(settings: MailSettings) -> dict[str, Any]:
    """main.cf's MAILOPS-POSTSCREEN values and the postscreen_access.cidr rows."""
    return {
        "dnsbl_sites": list(settings.inbound.dnsbl),
        "dnsbl_threshold": settings.inbound.dnsbl_threshold,
        "postscreen_allow": allowed_clients(settings),
    }


def rspamd_context(settings: MailSettings) -> dict[str, Any]:
    """Template variables for templates/rspamd/*.j2 and templates/redis/redis.conf.j2."""
    inbound = settings.inbound
    allow = allowed_clients(settings)
    return {
        "resolver": RESOLVER_ADDRESS,
        "local_addrs": _local_addrs(settings),
        "spam": {k: f"{getattr(inbound.spam, k):g}" for k in ("reject", "junk", "greylist")},
        "greylisting": inbound.greylisting,
        "greylist_delay": inbound.greylist_delay,
        "dmarc_enforce": inbound.dmarc_enforce,
        "allow": allow,
        "overrides": domain_overrides(settings),
        "redis_socket": REDIS_SOCKET,
        "redis_maxmemory": REDIS_MAXMEMORY,
    }
