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

The account, the ACL, the unit and the service's state are read in the deploy's
one-pass read (tasks._snapshot): a converged host costs this task no round trip.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import delivery_log as svc

from . import _snapshot as snapshot
from ._accounts import differs
from ._common import enabled_and_running
from ._staged import rendered, staged_files
from .bounce import ACL_COMMAND  # the same listing of the same directory: read once

# The ACL entry that lets the user pass through the bounce pipeline's directory.
TRAVERSE = f"user:{svc.USER}:--x"


def _acl_missing() -> bool:
    return TRAVERSE not in snapshot.output(ACL_COMMAND).split()


@deploy("Delivery log")
def configure(settings: MailSettings) -> None:
    account = differs(svc.USER, svc.USER, home=svc.STATE_DIR, shell="/usr/sbin/nologin")
    server.group(name=f"Group {svc.USER}", group=svc.USER, system=True, _if=account)
    server.user(name=f"User {svc.USER} (runs the delivery log, owns its database)",
                user=svc.USER, group=svc.USER, system=True, home=svc.STATE_DIR,
                shell="/usr/sbin/nologin", ensure_home=False, create_home=False,
                comment="mailops delivery log", _if=account)
    # /var/lib/mailops belongs to the bounce pipeline (2770, tasks/bounce.py): the user
    # may pass through it to its own directory, and see nothing else there.
    snapshot.register(commands=[ACL_COMMAND])
    server.shell(name=f"ACL on {svc.PARENT_DIR}: {svc.USER} may pass through (x only)",
                 commands=[f"setfacl -m u:{svc.USER}:x {svc.PARENT_DIR}"], _if=_acl_missing)
    # The unit compared by digest in the deploy's one-pass read (tasks._staged).
    unit = staged_files(name=f"Render {svc.UNIT_PATH}", set_name="delivery-log",
                        files=[rendered("delivery_log/mailops-delivery-log.service.j2",
                                        svc.UNIT_PATH, svc.unit_context(settings))])
    changed = any_changed(unit)
    systemd.daemon_reload(name=f"systemctl daemon-reload ({svc.UNIT} changed)", _if=changed)
    systemd.service(name=f"Restart {svc.UNIT} (new code or settings)", service=svc.UNIT,
                    restarted=True, running=None, _if=changed)
    enabled_and_running(f"{svc.UNIT} enabled and running", svc.UNIT)
