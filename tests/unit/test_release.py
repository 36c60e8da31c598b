"""The deploy reads the host's release and refuses what it has not been checked on.

Input is what pyinfra's real `server.LinuxDistribution` fact makes of each
system's /etc/os-release (os-release(5)), fed through the fact's own parser.
"""

import pytest
from pyinfra.facts.server import LinuxDistribution

from mailops.services.release import SUPPORTED, UnsupportedRelease, host_release

OS_RELEASE = {
    "debian-11": """PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
HOME_URL="https://www.debian.org/"
""",
    "debian-12": """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
""",
    "debian-13": """PRETTY_NAME="Debian GNU/Linux 13 (trixie)"
NAME="Debian GNU/Linux"
VERSION_ID="13"
VERSION="13 (trixie)"
VERSION_CODENAME=trixie
DEBIAN_VERSION_FULL=13.8
ID=debian
HOME_URL="https://www.debian.org/"
""",
    "debian-14": """PRETTY_NAME="Debian GNU/Linux 14 (forky)"
NAME="Debian GNU/Linux"
VERSION_ID="14"
VERSION="14 (forky)"
VERSION_CODENAME=forky
ID=debian
""",
    # testing/unstable: no VERSION_ID at all
    "debian-testing": """PRETTY_NAME="Debian GNU/Linux forky/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=forky
ID=debian
""",
    "ubuntu-24.04": """PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
""",
}


def fact(name: str) -> dict:
    """The LinuxDistribution fact of a host whose /etc/os-release is OS_RELEASE[name]."""
    output = ["/etc/os-release", *OS_RELEASE[name].splitlines(), "---"]
    return LinuxDistribution().process(output)


@pytest.mark.parametrize("name, version, dovecot", [("debian-12", 12, "2.3"),
                                                   ("debian-13", 13, "2.4")])
def test_debian_12_and_13_are_deployed_with_their_own_dovecot(name, version, dovecot):
    release = host_release(fact(name), "mx1")
    assert release.version == version and release.dovecot == dovecot
    assert release is SUPPORTED[version]


@pytest.mark.parametrize("name, found", [
    ("debian-11", "Debian GNU/Linux 11 (bullseye)"),
    ("debian-14", "Debian GNU/Linux 14 (forky)"),
    ("debian-testing", "Debian GNU/Linux forky/sid"),
    ("ubuntu-24.04", "Ubuntu 24.04.1 LTS"),
])
def test_an_unsupported_release_is_refused_naming_what_was_found_and_what_is_supported(
        name, found):
    with pytest.raises(UnsupportedRelease) as e:
        host_release(fact(name), "mx1")
    message = str(e.value)
    assert message.startswith(f"mx1: found {found}")
    assert "Debian 12 (bookworm), Debian 13 (trixie)" in message
    assert "Nothing was changed" in message


def test_a_host_without_os_release_is_refused():
    with pytest.raises(UnsupportedRelease, match="mx1: found an unknown system; expected Debian"):
        host_release(LinuxDistribution().process([]), "mx1")
