"""rspamd as the port-25 milter, with Redis (Debian's packages) for its state.

install -> configure -> activate:
1. rspamd and redis-server; _rspamd joins group redis (the socket is 0770 redis:redis);
2. /etc/redis/redis.conf and rspamd's local.d files rendered whole
   (services/rspamd.py), each set staged and compared by digest (tasks._staged); a
   controller password hash made ON the host from random bytes nobody keeps (never in
   the repo, the output or a diff);
3. `rspamadm configtest` on the staged copy before it goes live; restarts only for
   what changed;
4. both enabled and running. Postfix (tasks/postfix.py) calls the milter on port 25
   only, with default_action = tempfail.

The group membership, the files, whether the secret exists and the services' state are
read in the deploy's one-pass read (tasks._snapshot): a converged host costs this task
no round trip.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import rspamd as svc

from . import _snapshot as snapshot
from ._common import enabled_and_running, ensure_packages
from ._staged import rendered, staged_files

# Made once on the host; the random password itself is never stored or shown.
_SECRET = (f"test -s {svc.CONTROLLER_SECRET} || (umask 027; "
           "pw=$(head -c 32 /dev/urandom | base64 -w0); "
           f"printf 'password = \"%s\";\\n' \"$(rspamadm pw -q -p \"$pw\")\" "
           f"> {svc.CONTROLLER_SECRET}.tmp && chgrp _rspamd {svc.CONTROLLER_SECRET}.tmp && "
           f"mv {svc.CONTROLLER_SECRET}.tmp {svc.CONTROLLER_SECRET})")
REDIS_MEMBERS = "getent group redis"
# The packaged rspamd.conf includes local.d and override.d from $LOCAL_CONFDIR
# (rspamadm --var redefines it): pointed at the staged copy, configtest reads the new
# files with the packaged rest. The controller secret is not ours to stage: copied in.
CHECK = (f"cp -p {svc.CONTROLLER_SECRET} {{stage}}{svc.CONTROLLER_SECRET} 2>/dev/null; "
         "rspamadm --var=LOCAL_CONFDIR={stage}/etc/rspamd configtest -q")


def _not_in_redis_group() -> bool:
    # getent: redis:x:gid:member,member
    members = snapshot.output(REDIS_MEMBERS).rpartition(":")[2]
    return "_rspamd" not in members.split(",")


@deploy("rspamd and Redis")
def configure(settings: MailSettings) -> None:
    ctx = svc.rspamd_context(settings)
    ensure_packages("Install rspamd and Redis", ["rspamd", "redis-server"])
    snapshot.register(commands=[REDIS_MEMBERS], stat=[svc.CONTROLLER_SECRET])
    server.shell(name="_rspamd in group redis (Redis socket)",
                 commands=["adduser _rspamd redis"], _if=_not_in_redis_group)

    redis_conf = staged_files(
        name=f"Render {svc.REDIS_CONF}", set_name="redis",
        files=[rendered("redis/redis.conf.j2", svc.REDIS_CONF, ctx, user="redis",
                        group="redis", mode="640")])
    systemd.service(name="Restart Redis (redis.conf changed)", service="redis-server",
                    running=None, restarted=True, _if=any_changed(redis_conf))
    enabled_and_running("Redis enabled and running", "redis-server")

    server.shell(name="rspamd controller password: a hash of random bytes (never shown)",
                 commands=[_SECRET], _if=lambda: not snapshot.exists(svc.CONTROLLER_SECRET))
    owner = {"user": "root", "group": "_rspamd", "mode": "640"}
    conf = staged_files(
        name="rspamd's local.d and override.d (checked by rspamadm configtest first)",
        set_name="rspamd",
        files=[*[rendered(f"rspamd/{name}.j2", f"{svc.RSPAMD_LOCAL_D}/{name}", ctx, **owner)
                 for name in svc.LOCAL_FILES],
               *[rendered(f"rspamd/override.d/{name}.j2", f"{svc.RSPAMD_OVERRIDE_D}/{name}",
                          ctx, **owner)
                 for name in svc.OVERRIDE_FILES]],
        check=CHECK)
    restarted = systemd.service(name="Restart rspamd (configuration or Redis changed)",
                                service="rspamd", running=None, restarted=True,
                                _if=any_changed(conf, redis_conf))
    started = enabled_and_running("rspamd enabled and running", "rspamd")
    # systemd reports rspamd started long before it listens: it first loads its Lua
    # plugins and compiles the public-suffix list (half a minute on a busy 2-core host).
    # Meanwhile Postfix tempfails every port-25 message (milter default_action). The
    # deploy ends only once the milter answers, so "deployed" means "accepting mail".
    server.shell(name=f"rspamd's milter answers on {svc.RSPAMD_MILTER}",
                 commands=[svc.wait_for_milter_command()],
                 _if=any_changed(restarted, started))
