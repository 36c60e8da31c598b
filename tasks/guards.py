"""Failure guards: the journal capped in size and age (journald drop-in).

rspamd's own log is rotated by the logrotate file its Debian package ships; Redis is
bounded by maxmemory (templates/redis/redis.conf.j2), rspamd's history by nrows and
greylisting records by their expiry (templates/rspamd/).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from ._common import template

JOURNALD_DROPIN = "/etc/systemd/journald.conf.d/mailops.conf"
JOURNAL_LIMITS = {"max_use": "1G", "keep_free": "2G", "retention": "1month"}


@deploy("Failure guards")
def configure() -> None:
    files.directory(name="Create /etc/systemd/journald.conf.d",
                    path="/etc/systemd/journald.conf.d", user="root", group="root",
                    mode="755")
    conf = template(f"Render {JOURNALD_DROPIN}", "journald/mailops.conf.j2",
                    JOURNALD_DROPIN, JOURNAL_LIMITS)
    systemd.service(name="Restart journald (limits changed)", service="systemd-journald",
                    running=None, restarted=True, _if=any_changed(conf))
