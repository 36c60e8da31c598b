"""The OpenDKIM watchdog: restart a milter that accepts connections but no longer answers.

install -> configure -> activate:
1. mailops' stdlib-only milter client (``mailops.dkim.milter``, the one
   `mailops rotate-dkim` also uses) to /usr/local/lib/mailops/watchdog/;
2. the probe script, its oneshot service and timer (templates/opendkim/), and a drop-in
   that makes systemd restart a crashed OpenDKIM (Restart=on-failure);
3. systemctl daemon-reload when a unit changed, the timer enabled and running.
"""

from __future__ import annotations

from pathlib import Path

from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from mailops.dkim import milter as milter_probe
from mailops.services import paths as mh

from ._common import template

LIB_DIR = "/usr/local/lib/mailops/watchdog"
PROBE = f"{LIB_DIR}/milter_probe.py"
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
    return {"watchdog_script": SCRIPT, "probe": PROBE, "interval": INTERVAL,
            "timeout": TIMEOUT, "socket": f"{mh.POSTFIX_SPOOL}/{mh.OPENDKIM_SOCKET}",
            "domain": domain, "hostname": hostname}


def configure(hostname: str, domain: str) -> None:
    """Called by tasks.opendkim.configure once OpenDKIM is configured and running."""
    ctx = context(hostname, domain)
    files.directory(name=f"Create {LIB_DIR}", path=LIB_DIR, user="root", group="root",
                    mode="755")
    files.put(name=f"Milter probe {PROBE}", src=str(Path(milter_probe.__file__)),
                      dest=PROBE, user="root", group="root", mode="644")
    template(f"Render {SCRIPT}", "opendkim/mailops-milter-watchdog.j2", SCRIPT,
                      ctx, mode="755")
    units = [
        template(f"Render {UNIT_DIR}/{name}", f"opendkim/{name}.j2", f"{UNIT_DIR}/{name}",
                 ctx)
        for name in (SERVICE, TIMER)
    ]
    files.directory(name=f"Create {UNIT_DIR}/opendkim.service.d",
                    path=f"{UNIT_DIR}/opendkim.service.d", user="root", group="root",
                    mode="755")
    units.append(template(f"Render {DROP_IN}", "opendkim/opendkim-restart.conf.j2", DROP_IN,
                          ctx))
    systemd.daemon_reload(name="systemctl daemon-reload (watchdog units changed)",
                          _if=any_changed(*units))
    # The probe and script take effect at the next timer run: nothing to restart.
    systemd.service(name=f"{TIMER} enabled and running", service=TIMER, running=True,
                    enabled=True)
