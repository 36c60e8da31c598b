"""The delivery log on the host: its user, database, unit, and what Postfix adds for it.

The service (``mailops_host delivery-log``, src/mailops/onhost/delivery/) runs as its
own system user, in the ``systemd-journal`` group that may read the whole system
journal (systemd-journald.service(8), "Access Control"), and owns its database in
``/var/lib/mailops/delivery`` (systemd's StateDirectory=). ``mailops messages|trace``
query it as that user: SQLite in WAL mode needs every reader to write the ``-shm``
file, which must keep the service's owner.
"""

from __future__ import annotations

from ..inventory import MailSettings
from .onhost import module_argv, package_version

USER = "mailops-delivery"
JOURNAL_GROUP = "systemd-journal"
PARENT_DIR = "/var/lib/mailops"  # the bounce pipeline's directory (services/bounce.py)
STATE_SUBDIR = "mailops/delivery"  # StateDirectory=, under /var/lib
STATE_DIR = f"/var/lib/{STATE_SUBDIR}"
DB = f"{STATE_DIR}/delivery.sqlite3"
UNIT = "mailops-delivery-log.service"
UNIT_PATH = f"/etc/systemd/system/{UNIT}"
# header_checks(5) INFO: Postfix logs the Subject of every message (cleanup(8)), the
# only way a subject reaches the log; main.cf names the table (maps/subject_logging)
# only when delivery_log.subjects is on.
SUBJECT_RULE = "/^Subject:/ INFO"


def argv(settings: MailSettings) -> list[str]:
    """The service's command line."""
    log = settings.delivery_log
    args = ["delivery-log", "--db", DB, "--retention-days", str(log.retention_days)]
    if log.subjects:
        args.append("--subjects")
    return module_argv(*args)


def unit_context(settings: MailSettings) -> dict:
    """Template variables of templates/delivery_log/mailops-delivery-log.service.j2.

    The host package's version is part of the unit, so a new package changes the unit
    and the deploy restarts the service onto the new code."""
    return {"exec_start": " ".join(argv(settings)), "service_user": USER,
            "journal_group": JOURNAL_GROUP, "state_dir": STATE_SUBDIR,
            "package_version": package_version()}


def query_argv(command: str, *args: str) -> list[str]:
    """``messages``/``trace`` arguments for the host package, against this database."""
    return [command, *args, "--json", "--db", DB]


def postfix_context(settings: MailSettings) -> dict:
    """What templates/postfix/ add for the delivery log: the subject rule, when kept."""
    return {"delivery_log_subjects": settings.delivery_log.subjects,
            "subject_rule": SUBJECT_RULE}
