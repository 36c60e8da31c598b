"""The lab builds Debian 12 or 13, and keeps the cached trees of both apart."""

import pytest

from mailops.lab import config, image


def test_the_lab_release_defaults_to_13_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv("MAILOPS_LAB_RELEASE", raising=False)
    assert config.release() == "13" and config.suite("13") == "trixie"
    monkeypatch.setenv("MAILOPS_LAB_RELEASE", "12")
    assert config.release() == "12" and config.suite("12") == "bookworm"


@pytest.mark.parametrize("bad", ["11", "14", "trixie", ""])
def test_an_unknown_lab_release_names_what_was_found_and_what_is_supported(monkeypatch, bad):
    monkeypatch.setenv("MAILOPS_LAB_RELEASE", bad or " ")
    with pytest.raises(ValueError) as e:
        config.release()
    assert f"found {(bad or ' ').strip()!r}" in str(e.value)
    assert "12 (bookworm), 13 (trixie)" in str(e.value) and "--release" in str(e.value)


def test_each_release_has_its_own_cached_trees_named_by_suite():
    names = image.current_keys()
    assert len(names) == 6
    assert {n.rsplit("-", 1)[0] for n in names} == {
        "bookworm-base", "bookworm-remote", "bookworm-relay",
        "trixie-base", "trixie-remote", "trixie-relay"}
    assert image._name("12", "base") != image._name("13", "base")


def test_pruning_keeps_both_releases_and_leaves_foreign_entries_alone(monkeypatch, tmp_path):
    monkeypatch.setenv("MAILOPS_LAB_CACHE", str(tmp_path))
    keep = image.current_keys()
    stale = ["trixie-base-0000000000000000", "bookworm-remote-0000000000000000"]
    foreign = ["debs", "apt-cacher-ng-5", "base-fda5e55281728d12"]
    for name in [*keep, *stale, *foreign]:
        (tmp_path / name).mkdir()
    image.prune(keep, log=lambda *_: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, *foreign])
