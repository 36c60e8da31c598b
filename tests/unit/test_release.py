"""The deploy reads the host's release and refuses what it has not been checked on.

Input is what pyinfra's real `server.LinuxDistribution` fact makes of each
system's /etc/os-release (os-release(5)), fed through the fact's own parser.
"""

import pytest
from pyinfra.facts.server import LinuxDistribution

from mailops.services.release import SUPPORTED, UnsupportedRelease, host_release


def os_release(pretty: str, codename: str, version_id: str | None = None,
               os_id: str = "debian", name: str = "Debian GNU/Linux") -> str:
    """An /etc/os-release as each system ships it (testing/unstable: no VERSION_ID)."""
    lines = [f'PRETTY_NAME="{pretty}"', f'NAME="{name}"']
    if version_id:
        lines.append(f'VERSION_ID="{version_id}"')
    lines += [f"VERSION_CODENAME={codename}", f"ID={os_id}"]
    if os_id != "debian":
        lines.append("ID_LIKE=debian")
    return "\n".join(lines) + "\n"


OS_RELEASE = {
    "debian-11": os_release("Debian GNU/Linux 11 (bullseye)", "bullseye", "11"),
    "debian-12": os_release("Debian GNU/Linux 12 (bookworm)", "bookworm", "12"),
    "debian-13": os_release("Debian GNU/Linux 13 (trixie)", "trixie", "13"),
    "debian-14": os_release("Debian GNU/Linux 14 (forky)", "forky", "14"),
    "debian-testing": os_release("Debian GNU/Linux forky/sid", "forky"),
    "ubuntu-24.04": os_release("Ubuntu 24.04.1 LTS", "noble", "24.04", "ubuntu", "Ubuntu"),
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
