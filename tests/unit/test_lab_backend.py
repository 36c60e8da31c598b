"""The lab's machines come from a backend: nspawn by default, Vagrant on request."""

import shutil
import subprocess

import pytest

from mailops.lab import config, vagrant, vagrantbox


def test_the_backend_defaults_to_nspawn_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv("MAILOPS_LAB_BACKEND", raising=False)
    assert config.backend() == "nspawn"
    monkeypatch.setenv("MAILOPS_LAB_BACKEND", "vagrant")
    assert config.backend() == "vagrant"
    assert config.backend("nspawn") == "nspawn"  # --backend wins over the environment


def test_an_unknown_backend_names_what_was_found_and_what_to_set(monkeypatch):
    monkeypatch.setenv("MAILOPS_LAB_BACKEND", "virtualbox")
    with pytest.raises(ValueError) as e:
        config.backend()
    assert "found 'virtualbox'" in str(e.value) and "nspawn, vagrant" in str(e.value)
    assert "--backend" in str(e.value) and "MAILOPS_LAB_BACKEND" in str(e.value)


def test_each_release_names_a_current_debian_box_unless_one_is_given(monkeypatch):
    monkeypatch.delenv("MAILOPS_LAB_VAGRANT_BOX", raising=False)
    assert config.vagrant_box("12") == "debian/bookworm64"
    assert config.vagrant_box("13") == "debian/trixie64"
    monkeypatch.setenv("MAILOPS_LAB_VAGRANT_BOX", vagrantbox.box_name("13"))
    assert config.vagrant_box("13") == "mailops-lab/trixie64"


def test_the_lab_vagrantfile_puts_mx1_and_remote_on_the_lab_bridge_at_their_addresses(
        monkeypatch):
    monkeypatch.delenv("MAILOPS_LAB_VAGRANT_BOX", raising=False)
    monkeypatch.delenv("MAILOPS_LAB_VAGRANT_DRIVER", raising=False)
    text = vagrant.vagrantfile("12")
    assert 'config.vm.box = "debian/bookworm64"' in text
    for name in ("mx1", "remote"):
        m = config.machine(name)
        assert f'config.vm.define "{name}"' in text
        assert f'dev: "{config.BRIDGE}"' in text and f'ip: "{m.address}"' in text
    assert "relay" not in text  # relay stays a container beside BIND and Pebble
    assert 'lv.driver = "kvm"' in text
    # Per lab index: domains, management network and its addresses never collide.
    assert f'default_prefix = "mailops-lab{config.INDEX}-"' in text
    assert f'management_network_address = "10.232.{config.INDEX}.0/24"' in text
    assert 'management_network_mode = "none"' in text


@pytest.mark.skipif(not shutil.which("ruby"), reason="ruby (Vagrant's) not installed")
def test_the_lab_vagrantfile_and_the_box_vagrantfile_are_valid_ruby(tmp_path, monkeypatch):
    monkeypatch.setenv("MAILOPS_LAB_VAGRANT_DRIVER", "qemu")
    (tmp_path / "lab").write_text(vagrant.vagrantfile("13"))
    (tmp_path / "box").write_text(vagrantbox.BOX_VAGRANTFILE)
    for f in ("lab", "box"):
        result = subprocess.run(["ruby", "-c", str(tmp_path / f)], capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr


def test_a_driver_other_than_kvm_or_qemu_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("MAILOPS_LAB_VAGRANT_DRIVER", "tcg")
    with pytest.raises(ValueError, match="MAILOPS_LAB_VAGRANT_DRIVER: found 'tcg'"):
        vagrant.vagrantfile("13")
