"""Failure guards: the journal capped in size and age (journald drop-in).

rspamd's own log is rotated by the logrotate file its Debian package ships; Redis is
bounded by maxmemory (templates/redis/redis.conf.j2), rspamd's history by nrows and
greylisting records by their expiry (templates/rspamd/).

The drop-in and its directory are compared in the deploy's one-pass read
(tasks._staged): a converged host costs this task no round trip.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from ._staged import Dir, rendered, staged_files

JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/mailops.conf"
JOURNAL_LIMITS = {"max_use": "1G", "keep_free": "2G", "retention": "1month"}


@deploy("Failure guards")
def configure() -> None:
    conf = staged_files(name=f"Render {JOURNALD_DROPIN}", set_name="journald",
                        files=[rendered("journald/mailops.conf.j2", JOURNALD_DROPIN,
                                        JOURNAL_LIMITS)],
                        dirs=[Dir("/etc/systemd/journald.conf.d")])
    systemd.service(name="Restart journald (limits changed)", service="systemd-journald",
                    running=None, restarted=True, _if=any_changed(conf))
