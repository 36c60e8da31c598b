"""Relay (smarthost) credentials and the sender map, for Postfix's relay services.

What the relays are, and how Postfix routes to them, is mailops.services.relay; the
main.cf/master.cf/transport blocks are in templates/postfix (MAILOPS-RELAY). This task:

1. installs libsasl2-modules: the Cyrus SASL PLAIN/LOGIN client mechanisms Postfix's
   smtp(8) needs to log in to a relay (SASL_README, "Postfix SMTP client");
2. uploads each relay's credentials — read from the environment variables the
   inventory names, at deploy time only — to /etc/postfix/relay/mailops-relay-<n>,
   root:root 0600, and renders the sender map (sender_dependent_default_transport_maps),
   all in ONE tasks._staged set: compared by digest in the deploy's one-pass read,
   never diffed, printed or logged;
3. a relay the inventory no longer has loses its file (the folder listed in the same
   one-pass read).

:func:`require_credentials` runs first thing in deploy.py: a missing variable stops the
deploy before anything on the host changes, naming the inventory key and the variable.
Postfix reloads when any of this changed (:func:`changes`, used by tasks/postfix.py).
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation
from pyinfra.api.exceptions import DeployError
from pyinfra.api.operation import OperationMeta

from mailops.inventory import MailSettings, SettingsError
from mailops.services import relay as svc
from mailops.services.render import render

from . import _snapshot as snapshot
from ._common import ensure_packages, local_secret
from ._staged import Dir, local, rendered, staged_files

_CHANGES: dict[str, list[OperationMeta]] = {}


def changes() -> list[OperationMeta]:
    """This host's relay operations (empty if relay.configure did not run)."""
    return list(_CHANGES.get(host.name, []))


def require_credentials(settings: MailSettings) -> None:
    """Every relay's credentials are in the environment, or a DeployError naming each
    missing variable and the inventory key that names it (values are never shown)."""
    try:
        svc.require_credentials(settings)
        svc.check_sasl_values(settings)
    except SettingsError as e:
        lines = "\n".join(f"  - {p}" for p in e.problems)
        raise DeployError(f"relay credentials: {len(e.problems)} problem(s) found in the "
                          f"environment; nothing was changed on any host.\n{lines}") from None


# The files in the credentials folder (its name is ours: nothing else writes there).
LISTED = f"find {svc.RELAY_SASL_DIR} -maxdepth 1 -type f"


@deploy("Relay (smarthost)")
def configure(settings: MailSettings) -> None:
    routes = svc.routes(settings)
    ctx = svc.relay_context(settings)
    if routes:
        ensure_packages("Install the SASL client mechanisms (libsasl2-modules)",
                        ["libsasl2-modules"])
    credentials = [
        local(local_secret(render("postfix/relay_sasl.j2", nexthop=r.nexthop,
                                  username=svc.env_value(r.relay.username_env),
                                  password=svc.env_value(r.relay.password_env)), r.service),
              r.sasl_file, mode="600")
        for r in routes]
    snapshot.register(commands=[LISTED])
    ops = [
        staged_files(
            name=f"Relay credentials in {svc.RELAY_SASL_DIR} (content never shown) and the "
                 f"sender map {ctx['relay_sender_map_file']}",
            set_name="relay", dirs=[Dir(svc.RELAY_SASL_DIR, mode="700")],
            files=[*credentials, rendered("postfix/relay_senders.j2",
                                          ctx["relay_sender_map_file"], ctx)]),
        _remove_unlisted(name=f"Remove credentials of relays no longer in the inventory "
                              f"from {svc.RELAY_SASL_DIR}",
                         keep=sorted(r.sasl_file for r in routes)),
    ]
    _CHANGES[host.name] = ops


@operation()
def _remove_unlisted(keep: list[str]):
    stale = [p for p in snapshot.output(LISTED).split() if p not in keep]
    if stale:
        yield StringCommand("rm -f " + " ".join(shlex.quote(p) for p in stale))
    else:
        host.noop("no stale relay credentials")
