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
"""

from __future__ import annotations

from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import status_mail as svc

from . import _snapshot as snapshot
from ._common import enabled_and_running, template
from .milter_watchdog import TIMER as WATCHDOG_TIMER


def configure(settings: MailSettings) -> None:
    if not settings.status_mail.enabled:
        _remove()
        return
    units = [*snapshot.registered_units(), WATCHDOG_TIMER]
    ctx = svc.unit_context(settings)
    files.directory(name="Create /etc/mailops", path="/etc/mailops", user="root",
                    group="root", mode="755")
    template(f"Render {svc.CONFIG}", "status_mail/status-mail.json.j2", svc.CONFIG,
             {"config": svc.status_config(settings, units)})
    # 2700: the setgid bit comes from /var/lib/mailops (2770; GNU chmod keeps it on
    # directories), so ask for it rather than "change" the mode on every deploy.
    files.directory(name=f"Create {svc.STATE_DIR} (the last report's record, root only)",
                    path=svc.STATE_DIR, user="root", group="root", mode="2700")
    changed = [template(f"Render {svc.UNIT_DIR}/{name}", f"status_mail/{name}.j2",
                        f"{svc.UNIT_DIR}/{name}", ctx) for name in (svc.SERVICE, svc.TIMER)]
    systemd.daemon_reload(name="systemctl daemon-reload (status mail units changed)",
                          _if=any_changed(*changed))
    enabled_and_running(f"{svc.TIMER} enabled and running", svc.TIMER)


def _remove() -> None:
    unit_files = [f"{svc.UNIT_DIR}/{svc.TIMER}", f"{svc.UNIT_DIR}/{svc.SERVICE}"]
    present = snapshot.current(files=unit_files)["files"]
    if unit_files[0] in present:
        server.shell(name=f"Stop and disable {svc.TIMER} (status_mail.enabled is false)",
                     commands=[f"systemctl disable --now {svc.TIMER}"])
    removed = [files.file(name=f"Remove {path}", path=path, present=False)
               for path in (*unit_files, svc.CONFIG)]
    files.directory(name=f"Remove {svc.STATE_DIR}", path=svc.STATE_DIR, present=False)
    systemd.daemon_reload(name="systemctl daemon-reload (status mail units removed)",
                          _if=any_changed(*removed[:2]))
