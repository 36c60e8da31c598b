"""Base system: host name, the packages every mail host needs, time sync."""

from pyinfra.api import deploy
from pyinfra.operations import files, server

from mailops.inventory import MailSettings

from . import _snapshot as snapshot
from ._common import ensure_packages
from ._staged import staged_files, text

BASE_PACKAGES = ["ca-certificates", "openssl", "python3", "sqlite3", "rsyslog"]


# Read in the deploy's one pass (tasks._snapshot): the operations below run only when
# the host differs.
NODENAME = "uname -n"  # what pyinfra's Hostname fact reads
HOSTS_LINE = r"grep -E '^127\.0\.1\.1\s' /etc/hosts"


@deploy("Base system")
def configure(settings: MailSettings) -> None:
    short = settings.hostname.split(".")[0]
    line = f"127.0.1.1 {settings.hostname} {short}"
    snapshot.register(commands=[NODENAME, HOSTS_LINE])
    server.hostname(name="Set the host name", hostname=settings.hostname,
                    _if=lambda: snapshot.output(NODENAME).strip() != settings.hostname)
    files.line(
        name="Map the host name to itself in /etc/hosts",
        path="/etc/hosts",
        line=r"^127\.0\.1\.1\s",
        replace=line,
        _if=lambda: snapshot.output(HOSTS_LINE).strip() != line,
    )
    staged_files(name="Set /etc/mailname (the domain Debian's mail tools use)",
                 set_name="mailname", files=[text(settings.hostname + "\n", "/etc/mailname")])
    ensure_packages("Install base packages", BASE_PACKAGES)
