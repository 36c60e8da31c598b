"""Base system: host name, the packages every mail host needs, time sync."""

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from mailops.settings import MailSettings

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
    apt.packages(
        name="Install base packages",
        packages=BASE_PACKAGES,
        update=True,
        cache_time=3600,
        no_recommends=True,
    )


def _text(s: str):
    from io import StringIO

    return StringIO(s)
