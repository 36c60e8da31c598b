"""The host-side package ``mailops_host``: what goes into it, its version, how it is called.

It is built from two folders of this repository: src/mailops/onhost (the package
itself: entry points, queries, provisioning) and the modules of src/mailops/bounce
the hook imports (installed as its subpackage ``bounce``). Its VERSION is the
mailops version plus a digest of every file, so any change of content is a new
version; tasks/bounce.py installs it into a folder named for the version and
switches the ``mailops_host`` symlink to it in one rename(2), so a bounce that
starts during an upgrade sees either the old package or the new one, whole.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from functools import cache
from pathlib import Path

from .. import __version__
from ..bounce.classify import flat_module
from .bounce import BOUNCE_HOOK_MODULES

PACKAGE = "mailops_host"
HOST_LIB = "/usr/local/lib/mailops"  # on sys.path of every host-side call
PACKAGE_DIR = f"{HOST_LIB}/{PACKAGE}"  # a symlink to PACKAGE-<version>
HOOK_SCRIPT = f"{PACKAGE_DIR}/hook.py"  # what Postfix's pipe(8) runs

_SRC = Path(__file__).resolve().parent.parent
_BOUNCE_INIT = b'"""The bounce modules of mailops, as the hook imports them on the host."""\n'


@cache
def package_files() -> dict[str, bytes]:
    """Path inside the package -> content, VERSION included."""
    root = _SRC / "onhost"
    # The package's own modules and subpackages (e.g. delivery/), no caches.
    files = {p.relative_to(root).as_posix(): p.read_bytes()
             for p in sorted(root.rglob("*.py")) if "__pycache__" not in p.parts}
    files["bounce/__init__.py"] = _BOUNCE_INIT
    for m in BOUNCE_HOOK_MODULES:
        files[f"bounce/{m}.py"] = (_SRC / "bounce" / f"{m}.py").read_bytes()
    files["bounce/rules_flat.py"] = flat_module()  # the rule tables, flattened once
    digest = hashlib.sha256()
    for name, content in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    files["VERSION"] = f"{package_version_of(digest.hexdigest())}\n".encode()
    return files


def package_version_of(digest: str) -> str:
    return f"{__version__}+{digest[:12]}"


def package_version() -> str:
    return package_files()["VERSION"].decode().strip()


def package_tarball() -> bytes:
    """The package as a tar archive (root-owned, 0644/0755, fixed times: reproducible)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({n.rpartition("/")[0] for n in package_files() if "/" in n})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1
            tar.addfile(info)
        for name, content in sorted(package_files().items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), 0o644, 1
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def install_script(tarball: str, lib: str = HOST_LIB) -> str:
    """The shell commands that unpack ``tarball`` as the current package under ``lib``.

    Unpacked into ``<lib>/mailops_host-<version>``, byte-compiled there (the hook's user
    cannot write __pycache__, and compiling on every bounce would cost ~8 ms), then the
    ``mailops_host`` symlink is replaced by rename(2) (atomic; coreutils ``mv -T``). The
    previous version stays until the next upgrade, for a hook that had already started.
    """
    new = f"{PACKAGE}-{package_version()}"
    return " && ".join([
        f"cd {lib}",
        f"prev=$(readlink {PACKAGE} 2>/dev/null || true)",
        f"rm -rf {new} && mkdir -m 755 {new}",
        f"tar -xf {tarball} -C {new} --no-same-owner",
        f"python3 -m compileall -q -d {lib}/{PACKAGE} {new}",
        f"ln -sfn {new} .{PACKAGE}.new && mv -T .{PACKAGE}.new {PACKAGE}",
        f"rm -f {tarball}",
        f'for d in {PACKAGE}-*; do [ "$d" = {new} ] || [ "$d" = "$prev" ] || rm -rf "$d"; done',
    ])


def module_argv(*args: str, python: str = "/usr/bin/python3") -> list[str]:
    """``python3 -S -m mailops_host ARGS`` with the package's folder on its path.

    ``-S``: no site-packages — the package needs only the standard library, and
    nothing installed on the host can shadow it. PYTHONPATH is honoured under -S.
    """
    return ["env", f"PYTHONPATH={HOST_LIB}", python, "-S", "-m", PACKAGE, *args]


def install_local(lib: str | Path) -> Path:
    """Install the package under ``lib`` on THIS machine, by the deploy's own tarball and
    script (tests and benchmarks run the host code as a host would); its folder."""
    import subprocess

    lib = Path(lib)
    lib.mkdir(parents=True, exist_ok=True)
    tarball = lib / f".{PACKAGE}.tar"
    tarball.write_bytes(package_tarball())
    subprocess.run(["sh", "-c", install_script(str(tarball), lib=str(lib))], check=True)
    return lib / PACKAGE
