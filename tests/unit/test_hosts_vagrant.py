"""The Vagrant VM's host key lives in the project's state and is forgotten with the VM."""

from __future__ import annotations

from mailops.hosts.vagrant import known_hosts_file

KEY = "[192.168.121.10]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld\n"


def _vm(project, vm_id):
    folder = project / ".vagrant" / "machines" / "mx1" / "libvirt"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "id").write_text(vm_id)


def test_the_pinned_key_stays_while_the_vm_is_the_same_and_goes_when_it_is_recreated(tmp_path):
    _vm(tmp_path, "5a1f-first")
    known = known_hosts_file(tmp_path, "mx1")
    assert known == tmp_path / ".vagrant" / "mailops" / "known_hosts.mx1"
    known.write_text(KEY)  # what pyinfra's accept-new policy pins on first connection
    assert known_hosts_file(tmp_path, "mx1").read_text() == KEY

    _vm(tmp_path, "77c0-second")  # vagrant destroy && vagrant up: a new machine id
    assert known_hosts_file(tmp_path, "mx1").read_text() == ""


def test_the_users_own_known_hosts_is_never_the_one_named(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    known = known_hosts_file(tmp_path / "project", "mx1")
    assert (tmp_path / "project" / ".vagrant") in known.parents
    assert not (tmp_path / "home").exists()
