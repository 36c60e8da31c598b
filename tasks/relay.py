"""Relay (smarthost) credentials and the sender map, for Postfix's relay services.

What the relays are, and how Postfix routes to them, is mailops.services.relay; the
main.cf/master.cf/transport blocks are in templates/postfix (MAILOPS-RELAY). This task:

1. installs libsasl2-modules: the Cyrus SASL PLAIN/LOGIN client mechanisms Postfix's
   smtp(8) needs to log in to a relay (SASL_README, "Postfix SMTP client");
2. uploads each relay's credentials — read from the environment variables the
   inventory names, at deploy time only — to /etc/postfix/relay/mailops-relay-<n>
   with tasks._secret.secret_file: root:root 0600, compared by digest, never diffed,
   printed or logged; a relay the inventory no longer has loses its file;
3. renders the sender map (sender_dependent_default_transport_maps).

:func:`require_credentials` runs first thing in deploy.py: a missing variable stops the
deploy before anything on the host changes, naming the inventory key and the variable.
Postfix reloads when any of this changed (:func:`changes`, used by tasks/postfix.py).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import FindFiles
from pyinfra.operations import files

from mailops.inventory import MailSettings, SettingsError
from mailops.services import relay as svc
from mailops.services.render import render

from ._common import ensure_packages, local_secret, template
from ._secret import secret_file

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


@deploy("Relay (smarthost)")
def configure(settings: MailSettings) -> None:
    routes = svc.routes(settings)
    ctx = svc.relay_context(settings)
    ops: list[OperationMeta] = []
    if routes:
        ensure_packages("Install the SASL client mechanisms (libsasl2-modules)",
                        ["libsasl2-modules"])
    ops.append(files.directory(name=f"Create {svc.RELAY_SASL_DIR}", path=svc.RELAY_SASL_DIR,
                               user="root", group="root", mode="700"))
    for r in routes:
        content = render("postfix/relay_sasl.j2", nexthop=r.nexthop,
                         username=svc.env_value(r.relay.username_env),
                         password=svc.env_value(r.relay.password_env))
        ops.append(secret_file(
            name=f"Relay credentials for {r.relay.host}:{r.relay.port} "
                 f"({r.sasl_file}, content never shown)",
            src=local_secret(content, r.service), dest=r.sasl_file,
            user="root", group="root", mode="600"))
    wanted = {r.sasl_file for r in routes}
    for path in host.get_fact(FindFiles, path=svc.RELAY_SASL_DIR, quote_path=True) or []:
        if path not in wanted:
            ops.append(files.file(name=f"Remove {path} (relay no longer in the inventory)",
                                  path=path, present=False))
    ops.append(template(f"Render {ctx['relay_sender_map_file']}", "postfix/relay_senders.j2",
                        ctx["relay_sender_map_file"], ctx))
    _CHANGES[host.name] = ops
