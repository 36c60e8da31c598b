"""The delivery log service: the mail journal indexed per message and recipient.

install -> configure -> activate:
1. nothing to install: the service is the host package's ``delivery-log`` command
   (src/mailops/onhost/delivery/), which tasks/bounce.py installs — deploy.py runs this
   task after it; journalctl comes with systemd;
2. a system user ``mailops-delivery`` (no login, no home) that owns the database; the
   unit gives it the ``systemd-journal`` group, which may read the system journal; an
   ACL lets it pass through /var/lib/mailops (the bounce pipeline's, 2770) to its own
   directory;
3. the unit (templates/delivery_log/), sandboxed; systemd makes its state directory
   /var/lib/mailops/delivery. ``systemctl daemon-reload`` and a restart when the unit
   changed — it names the host package's version and the inventory's retention and
   subject settings, so new code or settings restart it; enabled and running.

Postfix logs subjects only when the inventory keeps them: that rule is part of the
Postfix configuration (services/delivery_log.postfix_context, tasks/postfix.py).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.server import Command
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import delivery_log as svc

from ._common import enabled_and_running, template


@deploy("Delivery log")
def configure(settings: MailSettings) -> None:
    server.group(name=f"Group {svc.USER}", group=svc.USER, system=True)
    server.user(name=f"User {svc.USER} (runs the delivery log, owns its database)",
                user=svc.USER, group=svc.USER, system=True, home=svc.STATE_DIR,
                shell="/usr/sbin/nologin", ensure_home=False, create_home=False,
                comment="mailops delivery log")
    # /var/lib/mailops belongs to the bounce pipeline (2770, tasks/bounce.py): the user
    # may pass through it to its own directory, and see nothing else there.
    traverse = f"user:{svc.USER}:--x"
    listed = host.get_fact(Command, command=f"getfacl -cp {svc.PARENT_DIR} 2>/dev/null || true")
    if traverse not in (listed or "").split():
        server.shell(name=f"ACL on {svc.PARENT_DIR}: {svc.USER} may pass through (x only)",
                     commands=[f"setfacl -m u:{svc.USER}:x {svc.PARENT_DIR}"])
    unit = template(f"Render {svc.UNIT_PATH}",
                    "delivery_log/mailops-delivery-log.service.j2", svc.UNIT_PATH,
                    svc.unit_context(settings))
    changed = any_changed(unit)
    systemd.daemon_reload(name=f"systemctl daemon-reload ({svc.UNIT} changed)", _if=changed)
    systemd.service(name=f"Restart {svc.UNIT} (new code or settings)", service=svc.UNIT,
                    restarted=True, running=None, _if=changed)
    enabled_and_running(f"{svc.UNIT} enabled and running", svc.UNIT)
