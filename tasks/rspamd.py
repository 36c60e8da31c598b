"""rspamd as the port-25 milter, with Redis (Debian's packages) for its state.

install -> configure -> activate:
1. rspamd and redis-server; _rspamd joins group redis (the socket is 0770 redis:redis);
2. /etc/redis/redis.conf and rspamd's local.d files rendered whole
   (services/rspamd.py); a controller password hash made ON the host from random bytes
   nobody keeps (never in the repo, the output or a diff);
3. `rspamadm configtest` as a gate; restarts only for what changed;
4. both enabled and running. Postfix (tasks/postfix.py) calls the milter on port 25
   only, with default_action = tempfail.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import File
from pyinfra.facts.server import Users
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import rspamd as svc

from ._common import ensure_packages, template

# Made once on the host; the random password itself is never stored or shown.
_SECRET = (f"test -s {svc.CONTROLLER_SECRET} || (umask 027; "
           "pw=$(head -c 32 /dev/urandom | base64 -w0); "
           f"printf 'password = \"%s\";\\n' \"$(rspamadm pw -q -p \"$pw\")\" "
           f"> {svc.CONTROLLER_SECRET}.tmp && chgrp _rspamd {svc.CONTROLLER_SECRET}.tmp && "
           f"mv {svc.CONTROLLER_SECRET}.tmp {svc.CONTROLLER_SECRET})")


@deploy("rspamd and Redis")
def configure(settings: MailSettings) -> None:
    ctx = svc.rspamd_context(settings)
    ensure_packages("Install rspamd and Redis", ["rspamd", "redis-server"])
    if "redis" not in (host.get_fact(Users).get("_rspamd") or {}).get("groups", []):
        server.shell(name="_rspamd in group redis (Redis socket)",
                     commands=["adduser _rspamd redis"])

    redis_conf = template(f"Render {svc.REDIS_CONF}", "redis/redis.conf.j2", svc.REDIS_CONF,
                          ctx, user="redis", group="redis", mode="640")
    systemd.service(name="Restart Redis (redis.conf changed)", service="redis-server",
                    running=None, restarted=True, _if=any_changed(redis_conf))
    systemd.service(name="Redis enabled and running", service="redis-server",
                    running=True, enabled=True)

    files = [template(f"Render {svc.RSPAMD_LOCAL_D}/{name}", f"rspamd/{name}.j2",
                      f"{svc.RSPAMD_LOCAL_D}/{name}", ctx, user="root", group="_rspamd",
                      mode="640")
             for name in svc.LOCAL_FILES]
    files += [template(f"Render {svc.RSPAMD_OVERRIDE_D}/{name}",
                       f"rspamd/override.d/{name}.j2", f"{svc.RSPAMD_OVERRIDE_D}/{name}", ctx,
                       user="root", group="_rspamd", mode="640")
              for name in svc.OVERRIDE_FILES]
    if not host.get_fact(File, path=svc.CONTROLLER_SECRET):
        server.shell(name="rspamd controller password: a hash of random bytes (never shown)",
                     commands=[_SECRET])
    changed = any_changed(*files)
    server.shell(name="Check the rspamd configuration (rspamadm configtest)",
                 commands=["rspamadm configtest -q"], _if=changed)
    restarted = systemd.service(name="Restart rspamd (configuration or Redis changed)",
                                service="rspamd", running=None, restarted=True,
                                _if=any_changed(*files, redis_conf))
    started = systemd.service(name="rspamd enabled and running", service="rspamd",
                              running=True, enabled=True)
    # systemd reports rspamd started long before it listens: it first loads its Lua
    # plugins and compiles the public-suffix list (half a minute on a busy 2-core host).
    # Meanwhile Postfix tempfails every port-25 message (milter default_action). The
    # deploy ends only once the milter answers, so "deployed" means "accepting mail".
    server.shell(name=f"rspamd's milter answers on {svc.RSPAMD_MILTER}",
                 commands=[svc.wait_for_milter_command()],
                 _if=any_changed(restarted, started))
