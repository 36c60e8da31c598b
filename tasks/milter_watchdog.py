"""The OpenDKIM watchdog: restart a milter that accepts connections but no longer answers.

install -> configure -> activate:
1. nothing to install: the probe is the host package's milter client
   (``python3 -S -m mailops_host milter-probe``, the one `mailops rotate-dkim` also
   uses), so deploy.py runs this after tasks/bounce.py has installed the package;
2. the probe script, its oneshot service and timer (templates/opendkim/), and a drop-in
   that makes systemd restart a crashed OpenDKIM (Restart=on-failure), as one staged
   set (tasks._staged);
3. systemctl daemon-reload when a unit changed, the timer enabled and running.
"""

from __future__ import annotations

from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from mailops.dkim.plan import SigningPlan
from mailops.inventory import MailSettings
from mailops.services import paths as mh
from mailops.services.onhost import module_argv
from mailops.services.postfix import hosted_domains

from ._common import enabled_and_running
from ._staged import Dir, rendered, staged_files

SCRIPT = "/usr/local/sbin/mailops-milter-watchdog"
UNIT_DIR = "/etc/systemd/system"
SERVICE = "mailops-milter-watchdog.service"
TIMER = "mailops-milter-watchdog.timer"
DROP_IN = f"{UNIT_DIR}/opendkim.service.d/mailops.conf"
# Seconds between probes, and how long one probe may take. OpenDKIM signs in
# milliseconds; 10 s without an answer is a hang, not load. A hung milter is thus
# restarted within about 30 s, while Postfix tempfails (milter_connect_timeout 10s).
INTERVAL = 20
TIMEOUT = 10


def context(hostname: str, domain: str) -> dict:
    """Template variables for the watchdog files (``domain``: the probe's sender domain)."""
    return {"watchdog_script": SCRIPT, "probe": " ".join(module_argv("milter-probe")),
            "interval": INTERVAL,
            "timeout": TIMEOUT, "socket": f"{mh.POSTFIX_SPOOL}/{mh.OPENDKIM_SOCKET}",
            "domain": domain, "hostname": hostname}


def configure(settings: MailSettings, plan: SigningPlan) -> None:
    """Called by deploy.py once OpenDKIM runs and the host package is installed.

    The probe's sender is a signing domain when there is one, else any hosted domain:
    what it asks is whether OpenDKIM answers, not whether it signs.
    """
    domain = min(plan.selectors) if plan.selectors else min(hosted_domains(settings))
    ctx = context(settings.hostname.lower(), domain)
    # The script and the units in ONE operation (tasks._staged): one read for all of them.
    units = staged_files(
        name="The OpenDKIM watchdog: probe script, service, timer, restart drop-in",
        set_name="milter-watchdog",
        files=[rendered("opendkim/mailops-milter-watchdog.j2", SCRIPT, ctx, mode="755"),
               *[rendered(f"opendkim/{name}.j2", f"{UNIT_DIR}/{name}", ctx)
                 for name in (SERVICE, TIMER)],
               rendered("opendkim/opendkim-restart.conf.j2", DROP_IN, ctx)],
        dirs=[Dir(f"{UNIT_DIR}/opendkim.service.d")])
    systemd.daemon_reload(name="systemctl daemon-reload (watchdog units changed)",
                          _if=any_changed(units))
    # The probe and script take effect at the next timer run: nothing to restart.
    enabled_and_running(f"{TIMER} enabled and running", TIMER)
