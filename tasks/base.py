"""Base system: host name, the packages every mail host needs, time sync."""

from pyinfra.api import deploy
from pyinfra.operations import files, server

from mailops.inventory import MailSettings

from ._common import ensure_packages

BASE_PACKAGES = ["ca-certificates", "openssl", "python3", "sqlite3", "rsyslog"]


@deploy("Base system")
def configure(settings: MailSettings) -> None:
    short = settings.hostname.split(".")[0]
    server.hostname(name="Set the host name", hostname=settings.hostname)
    files.line(
        name="Map the host name to itself in /etc/hosts",
        path="/etc/hosts",
        line=r"^127\.0\.1\.1\s",
        replace=f"127.0.1.1 {settings.hostname} {short}",
    )
    files.put(
        name="Set /etc/mailname (the domain Debian's mail tools use)",
        src=_text(settings.hostname + "\n"),
        dest="/etc/mailname",
        mode="644",
    )
    ensure_packages("Install base packages", BASE_PACKAGES)


def _text(s: str):
    from io import StringIO

    return StringIO(s)
