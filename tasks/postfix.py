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
   — all of it ONE staged operation (tasks._staged): the new files are checked with
   `postfix -c <staging copy> check` before any replaces a live one;
4. `postfix reload` (systemctl reload postfix) only
   when one of the above or the TLS pair changed — texthash tables are read when a
   daemon starts, so a reload is what makes a changed table take effect.
"""

from __future__ import annotations

from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services.paths import POSTFIX_DIR, POSTFIX_MAPS_DIR, QUOTA_EOD_POLICY
from mailops.services.postfix import CHECK, MAPS, postfix_context

from . import relay, tls
from ._common import TEMPLATES, enabled_and_running, install_mail_packages
from ._staged import Dir, local, rendered, staged_files


@deploy("Postfix")
def configure(settings: MailSettings) -> None:
    ctx = postfix_context(settings)

    install_mail_packages()

    files = [rendered("postfix/main.cf.j2", f"{POSTFIX_DIR}/main.cf", ctx),
             rendered("postfix/master.cf.j2", f"{POSTFIX_DIR}/master.cf", ctx)]
    files += [rendered(f"postfix/{table}.j2", f"{POSTFIX_MAPS_DIR}/{table}", ctx)
              for table in MAPS]
    # The END-OF-MESSAGE quota policy master.cf runs through spawn(8).
    files.append(local(TEMPLATES / "postfix/quota-eod-policy.py", QUOTA_EOD_POLICY))
    config = staged_files(
        name="Render /etc/postfix/main.cf, master.cf and maps (checked with postfix check first)",
        set_name="postfix", files=files,
        dirs=[Dir(POSTFIX_MAPS_DIR), Dir(str(Path(QUOTA_EOD_POLICY).parent))], check=CHECK)

    changed = any_changed(config, *tls.changes(), *relay.changes())
    systemd.service(name="Reload Postfix (configuration, tables or TLS changed)",
                    service="postfix", running=None, reloaded=True, _if=changed)
    enabled_and_running("Postfix enabled and running", "postfix")
