"""Postfix: MX on 25, submission on 587 (STARTTLS) and 465 (implicit TLS), virtual domains.

install -> configure -> activate:
1. the mail packages, with debconf pre-seeded to "No configuration"
   (tasks._common.install_mail_packages), so the package writes no main.cf;
2. main.cf and master.cf rendered WHOLE;
3. the lookup tables under /etc/postfix/maps rendered whole as ``texthash:`` files
   (virtual_mailbox_domains, virtual_mailbox_maps, virtual_alias_maps,
   sender_login_maps, local_aliases, and the bounce tables of services/bounce.py):
   no postmap step, no .db that can drift from its
   source;
4. `postfix check` as a gate, then `postfix reload` (systemctl reload postfix) only
   when one of the above or the TLS pair changed — texthash tables are read when a
   daemon starts, so a reload is what makes a changed table take effect.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services.paths import POSTFIX_DIR, POSTFIX_MAPS_DIR
from mailops.services.postfix import MAPS, postfix_context

from . import tls
from ._common import install_mail_packages, template


@deploy("Postfix")
def configure(settings: MailSettings) -> None:
    ctx = postfix_context(settings)

    install_mail_packages()

    ops = [
        template("Render /etc/postfix/main.cf", "postfix/main.cf.j2",
                 f"{POSTFIX_DIR}/main.cf", ctx),
        template("Render /etc/postfix/master.cf", "postfix/master.cf.j2",
                 f"{POSTFIX_DIR}/master.cf", ctx),
        files.directory(name=f"Create {POSTFIX_MAPS_DIR}", path=POSTFIX_MAPS_DIR,
                        user="root", group="root", mode="755"),
    ]
    for table in MAPS:
        ops.append(template(f"Render {POSTFIX_MAPS_DIR}/{table}", f"postfix/{table}.j2",
                            f"{POSTFIX_MAPS_DIR}/{table}", ctx))

    changed = any_changed(*ops, *tls.changes())
    # `postfix check` fails on fatal configuration errors: stop before reloading.
    server.shell(name="Check the Postfix configuration (postfix check)",
                 commands=["postfix check"], _if=changed)
    systemd.service(name="Reload Postfix (configuration, tables or TLS changed)",
                    service="postfix", running=None, reloaded=True, _if=changed)
    systemd.service(name="Postfix enabled and running", service="postfix",
                    running=True, enabled=True)
