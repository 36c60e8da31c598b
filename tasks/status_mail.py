"""The daily status mail: its configuration, service and timer (or their removal).

install -> configure -> activate:
1. nothing to install: the checks are the host package's ``status``
   (``python3 -S -m mailops_host status-mail``), installed by tasks/bounce.py;
2. /etc/mailops/status-mail.json — what to check, rendered from the inventory and from
   what THIS deploy manages (the units its tasks keep running, so deploy.py calls this
   last), the state folder /var/lib/mailops/status-mail, the oneshot service and its
   daily timer (templates/status_mail/);
3. systemctl daemon-reload when a unit changed, the timer enabled and running.

``status_mail.enabled: false``: the timer is stopped and disabled and every file
above removed; the record of the last report goes too, so turning it on again starts
with a full report.

Every file, folder and unit above is read in the deploy's one-pass read
(tasks._snapshot), enabled or not: a converged host costs this task no round trip.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import status_mail as svc

from . import _snapshot as snapshot
from ._common import enabled_and_running
from ._staged import Dir, rendered, staged_files
from .milter_watchdog import TIMER as WATCHDOG_TIMER

UNIT_FILES = [f"{svc.UNIT_DIR}/{svc.TIMER}", f"{svc.UNIT_DIR}/{svc.SERVICE}"]


def configure(settings: MailSettings) -> None:
    if not settings.status_mail.enabled:
        snapshot.register(stat=[*UNIT_FILES, svc.CONFIG, svc.STATE_DIR])
        _remove(name=f"Remove the status mail: stop and disable {svc.TIMER}, delete its "
                     f"units, {svc.CONFIG} and {svc.STATE_DIR} (status_mail.enabled is false)")
        return
    units = [*snapshot.registered_units(), WATCHDOG_TIMER]
    ctx = svc.unit_context(settings)
    # Files and folders compared in the deploy's one-pass read (tasks._staged): the
    # configuration apart from the units, so that only a unit change reloads systemd.
    # 2700: the setgid bit comes from /var/lib/mailops (2770; GNU chmod keeps it on
    # directories), so ask for it rather than "change" the mode on every deploy.
    staged_files(
        name=f"Render {svc.CONFIG}; create {svc.STATE_DIR} (the last report's record, "
             "root only)",
        set_name="status-mail",
        files=[rendered("status_mail/status-mail.json.j2", svc.CONFIG,
                        {"config": svc.status_config(settings, units)})],
        dirs=[Dir("/etc/mailops"), Dir(svc.STATE_DIR, mode="2700")])
    changed = staged_files(
        name=f"Render {svc.SERVICE} and {svc.TIMER} in {svc.UNIT_DIR}",
        set_name="status-mail-units",
        files=[rendered(f"status_mail/{name}.j2", f"{svc.UNIT_DIR}/{name}", ctx)
               for name in (svc.SERVICE, svc.TIMER)])
    systemd.daemon_reload(name="systemctl daemon-reload (status mail units changed)",
                          _if=any_changed(changed))
    enabled_and_running(f"{svc.TIMER} enabled and running", svc.TIMER)


@operation()
def _remove():
    """What is left of the status mail goes, as one operation decided on the one-pass
    read: a converged host (nothing left) costs no round trip."""
    found = snapshot.current(stat=[*UNIT_FILES, svc.CONFIG, svc.STATE_DIR])["files"]
    units = [p for p in UNIT_FILES if p in found]
    if UNIT_FILES[0] in found:
        yield StringCommand(f"systemctl disable --now {svc.TIMER}")
    present = [p for p in [*UNIT_FILES, svc.CONFIG] if p in found]
    if present:
        yield StringCommand("rm -f " + " ".join(shlex.quote(p) for p in present))
    if svc.STATE_DIR in found:
        yield StringCommand(f"rm -rf {shlex.quote(svc.STATE_DIR)}")
    if units:
        yield StringCommand("systemctl daemon-reload")
    if not (present or svc.STATE_DIR in found):
        host.noop("the status mail is not on the host")
