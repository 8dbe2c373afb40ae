"""Build the OpenWrt package `vpnspot_<version>_all.ipk` from this repository.

    python firmware_pkg/build.py [--out DIR] [--python 3.11] [--compile] [--no-strip]

Owns: which files go into the package, with which modes, and the .ipk
container. What the files say lives in firmware_pkg/package/vpnspot/files/
(shared with the feed Makefile next to them, so an SDK build and this build
install the same things); keep FILES below and that Makefile's
Package/vpnspot/install in step (tests/firmware checks both lists).

The .ipk is what opkg (OpenWrt up to 24.10) installs: an ar archive of
`debian-binary` ("2.0"), `control.tar.gz` (control, conffiles, postinst,
prerm) and `data.tar.gz` (the file tree), in that order. OpenWrt's own
ipkg-build wraps the same three members in a gzip'd tar instead; opkg reads
both. Byte for byte reproducible: every timestamp is SOURCE_DATE_EPOCH
(default: the last git commit's time, else a fixed date), entries are sorted,
owners are 0/0 with no names, modes are fixed, gzip headers carry mtime 0
and no file name.

OpenWrt 25.12 installs .apk (APKv3) packages instead; this script does not
write them (see README "Preinstall in a firmware image" for why and what to
do instead).

Python sources ship without comments and docstrings (stripsource.py): every
statement keeps its line, so a traceback from a router matches the
repository's source of that version; bottle.py keeps its copyright notice.
--no-strip ships the sources exactly as they are in the repository.

--compile ships byte code (.pyc, unchecked-hash so it holds no timestamp)
instead of sources: smaller on flash and faster to start, but only for the
exact Python version given with --python, which must be the one running
this script.
"""

import argparse
import gzip
import io
import os
import py_compile
import re
import subprocess
import sys
import tarfile
import tempfile

import stripsource

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FILES_DIR = os.path.join(HERE, "package", "vpnspot", "files")
sys.path.insert(0, REPO)

PACKAGE = "vpnspot"
RELEASE = "1"
DEFAULT_PYTHON = "3.11"        # OpenWrt 23.05 and 24.10 ship Python 3.11
FALLBACK_EPOCH = 1704067200    # 2024-01-01T00:00:00Z, when not in a git checkout

# Every dependency name is checked against the OpenWrt feeds; README
# "Install on a router" says where each is defined and why it is needed.
DEPENDS = (
    "python3-light",        # the interpreter and most of the standard library
    "python3-logging",      # logging (split out of python3-light)
    "python3-openssl",      # ssl and hashlib's OpenSSL backend (provider API over TLS)
    "python3-urllib",       # urllib.parse; pulls python3-email, which http.client needs
    "python3-email",
    "python3-cryptography", # X25519, ChaCha20-Poly1305 for the userspace tunnel
    "kmod-tun",             # the userspace tunnel's TUN device
    "ip-full",              # `ip -j` and policy rules; busybox ip has neither
    "firewall4",            # fw4 loads the kill switch guard; brings nft
)
SUGGESTS = ("kmod-wireguard", "wireguard-tools", "python3-pyroute2", "python3-pyserial")

# (source in FILES_DIR, path on the router, mode)
FILES = (
    ("vpnspot.bin", "/usr/bin/vpnspot", 0o755),
    ("vpnspot.init", "/etc/init.d/vpnspot", 0o755),
    ("vpnspot.config", "/etc/config/vpnspot", 0o600),
    ("vpnspot.defaults", "/etc/uci-defaults/90-vpnspot", 0o755),
    ("vpnspot.keep", "/lib/upgrade/keep.d/vpnspot", 0o644),
    ("vpnspot.nft", "/usr/share/nftables.d/ruleset-post/90-vpnspot.nft", 0o644),
    ("vpnspot.hotplug", "/etc/hotplug.d/iface/90-vpnspot", 0o644),
    ("functions.sh", "/usr/share/vpnspot/functions.sh", 0o644),
    # The shipped settings once more, read-only: what a factory reset
    # restores /etc/config/vpnspot to on a router without it in /rom.
    ("vpnspot.config", "/usr/share/vpnspot/vpnspot.config", 0o644),
)
DIRS = ("/etc/vpnspot", "/etc/vpnspot/guard.d")
CONFFILES = ("/etc/config/vpnspot",)

# Parts of vpnspot_router that never run on a router, each with the reason.
# Nothing shipped may import them: tests/firmware/test_shipped_tree.py runs
# every command and imports every shipped module from the package's own
# tree. Keep the Makefile's Package/vpnspot/install prune list in step.
EXCLUDED = (
    ("vpnspot_router/lab", "namespace lab, demos, router VM and reference service: developers' machines"),
    ("vpnspot_router/tests", "tests never ship"),
    ("vpnspot_router/console/client.py", "vpnspot-console, the technician's laptop side of the serial line"),
    ("vpnspot_router/console/fakebackend.py", "in-memory router for the console's tests"),
    ("vpnspot_router/tunnel/kernel_fake.py", "in-memory netlink for the kernel tunnel's tests"),
)
PACKAGE_DATA = (".py", ".yaml")

# opkg's maintainer scripts, as OpenWrt's buildroot writes them
# (include/package-pack.mk): all the work is in /lib/functions.sh, which
# runs uci-defaults, enables and starts init scripts, honouring IPKG_INSTROOT.
POSTINST = """#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_postinst "$0" "$@"
"""
PRERM = """#!/bin/sh
[ -s "${IPKG_INSTROOT}/lib/functions.sh" ] || exit 0
. "${IPKG_INSTROOT}/lib/functions.sh"
default_prerm "$0" "$@"
"""


def source_date_epoch():
    """SOURCE_DATE_EPOCH, else the last commit's time, else a fixed date."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        if not env.isdigit():
            raise SystemExit("error: SOURCE_DATE_EPOCH=%r is not a whole number of seconds" % env)
        return int(env)
    try:
        out = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%ct"],
                             capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip().isdigit():
            return int(out.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return FALLBACK_EPOCH


def project_version():
    """vpnspot_router/version.py's VERSION (pyproject.toml takes it from there too)."""
    with open(os.path.join(REPO, "vpnspot_router", "version.py"), encoding="utf-8") as f:
        m = re.search(r'^VERSION\s*=\s*"([^"]+)"', f.read(), re.M)
    if not m:
        raise SystemExit("error: vpnspot_router/version.py: no VERSION = \"...\" line")
    return m.group(1)


def site_packages(python):
    return "/usr/lib/python%s/site-packages" % python


def _python_sources():
    """(path relative to the repo, path on disk) of the agent's package, sorted."""
    root = os.path.join(REPO, "vpnspot_router")
    excluded = set(rel for rel, _ in EXCLUDED)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, REPO).replace(os.sep, "/")
        dirnames[:] = sorted(d for d in dirnames
                             if d != "__pycache__" and "%s/%s" % (rel_dir, d) not in excluded)
        for name in sorted(filenames):
            rel = "%s/%s" % (rel_dir, name)
            if name.endswith(PACKAGE_DATA) and rel not in excluded:
                out.append((rel, os.path.join(dirpath, name)))
    return sorted(out)


def _compile(source, target_name, optimize):
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.py")
        with open(src, "wb") as f:
            f.write(source)
        cfile = os.path.join(tmp, "out.pyc")
        py_compile.compile(src, cfile=cfile, dfile=target_name, doraise=True, optimize=optimize,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        with open(cfile, "rb") as f:
            return f.read()


def _vendored_bottle():
    """bottle.py (one MIT-licensed file) when the web UI is packaged: the
    OpenWrt feeds have no python3-bottle package."""
    try:
        import bottle
    except ImportError:
        return None
    return bottle.__file__


def collect(python=DEFAULT_PYTHON, compile_=False, optimize=0, strip=True):
    """{path on the router: (bytes, mode)} for every file."""
    if compile_ and "%d.%d" % sys.version_info[:2] != python:
        raise SystemExit("error: --compile needs Python %s to run this script (this is %d.%d): "
                         "byte code is specific to one Python version"
                         % (python, sys.version_info[0], sys.version_info[1]))
    site = site_packages(python)
    files = {}
    sources = _python_sources()
    has_web = any(rel.startswith("vpnspot_router/web/") for rel, _ in sources)
    extra = []
    if has_web:
        bottle = _vendored_bottle()
        if bottle is None:
            raise SystemExit("error: the web UI is in the tree but bottle is not importable here; "
                             "install it (pip install bottle) so it can be packaged")
        extra.append(("bottle.py", bottle))
    for rel, path in sources + extra:
        target = "%s/%s" % (site, rel)
        with open(path, "rb") as f:
            data = f.read()
        if strip and rel.endswith(".py"):
            try:
                # Vendored files keep their notice (bottle.py: MIT).
                data = stripsource.strip_checked(data, rel, keep_notice=(rel, path) in extra)
            except stripsource.StripError as e:
                raise SystemExit("error: %s" % e)
        if compile_ and rel.endswith(".py"):
            files[target[:-3] + ".pyc"] = (_compile(data, target, optimize), 0o644)
        else:
            files[target] = (data, 0o644)
    for src, dest, mode in FILES:
        with open(os.path.join(FILES_DIR, src), "rb") as f:
            files[dest] = (f.read(), mode)
    webui = os.path.join(REPO, "webui")
    if has_web and os.path.isdir(webui):
        # web/app.py looks for its templates next to the package's parent
        # directory (site-packages/webui); the files themselves live where
        # OpenWrt keeps shared data.
        files[site + "/webui"] = (SymLink("/usr/share/vpnspot/webui"), 0o777)
    for dirpath, dirnames, filenames in os.walk(webui):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, webui).replace(os.sep, "/")
            with open(path, "rb") as f:
                files["/usr/share/vpnspot/webui/" + rel] = (f.read(), 0o644)
    return files


class SymLink(str):
    """A symbolic link's target, in place of a file's bytes."""


def _all_dirs(paths):
    dirs = set(DIRS)
    for p in paths:
        parts = p.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/" + "/".join(parts[:i]))
    return dirs


def _gzip(data):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


def tar_gz(files, dirs, epoch):
    """A gzip'd GNU tar of ./-prefixed entries in sorted order, root-owned."""
    entries = [(d, None, 0o755) for d in dirs] + [(p, data, mode) for p, (data, mode) in files.items()]
    entries.sort(key=lambda e: e[0])
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        root = tarfile.TarInfo("./")
        _own(root, epoch, 0o755)
        root.type = tarfile.DIRTYPE
        tar.addfile(root)
        for path, data, mode in entries:
            info = tarfile.TarInfo("." + path + ("/" if data is None else ""))
            _own(info, epoch, mode)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(data, SymLink):
                info.type = tarfile.SYMTYPE
                info.linkname = str(data)
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return _gzip(raw.getvalue())


def _own(info, epoch, mode):
    info.mtime = epoch
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""


def ar(members, epoch):
    """A common-format ar archive, as dpkg and opkg read it."""
    out = [b"!<arch>\n"]
    for name, data in members:
        header = b"%-16s%-12d%-6d%-6d%-8s%-10d`\n" % (name.encode(), epoch, 0, 0, b"100644", len(data))
        assert len(header) == 60
        out.append(header)
        out.append(data)
        if len(data) % 2:
            out.append(b"\n")
    return b"".join(out)


def control_text(version, installed_size, epoch):
    lines = [
        "Package: %s" % PACKAGE,
        "Version: %s" % version,
        "Depends: %s" % ", ".join(DEPENDS),
        "Suggests: %s" % ", ".join(SUGGESTS),
        "Source: feeds/vpnspot/vpnspot",
        "SourceName: %s" % PACKAGE,
        "License: Proprietary",
        "Section: net",
        "SourceDateEpoch: %d" % epoch,
        "Maintainer: VPN Spot <router-support@vpnspot.net>",
        "Architecture: all",
        "Installed-Size: %d" % installed_size,
        "Description: VPN Spot router agent",
        " Sends all of a household's LAN traffic through one WireGuard tunnel to",
        " the VPN Spot network, keeps it up through WAN changes and server",
        " failures, and blocks LAN traffic rather than let it leave outside the",
        " tunnel (kill switch). Web UI and technicians' serial console included",
        " when built with them.",
    ]
    return "\n".join(lines) + "\n"


def build(out_dir, python=DEFAULT_PYTHON, compile_=False, optimize=0, epoch=None, strip=True):
    """Write the .ipk into out_dir; returns its path."""
    epoch = source_date_epoch() if epoch is None else epoch
    version = "%s-%s" % (project_version(), RELEASE)
    files = collect(python, compile_, optimize, strip)
    installed = sum(len(d) for d, _ in files.values() if not isinstance(d, SymLink))
    data = tar_gz(files, _all_dirs(files), epoch)
    control = {
        "/control": (control_text(version, installed, epoch).encode(), 0o644),
        "/conffiles": (("\n".join(CONFFILES) + "\n").encode(), 0o644),
        "/postinst": (POSTINST.encode(), 0o755),
        "/prerm": (PRERM.encode(), 0o755),
    }
    ctrl = tar_gz(control, set(), epoch)
    blob = ar([("debian-binary", b"2.0\n"), ("control.tar.gz", ctrl), ("data.tar.gz", data)], epoch)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "%s_%s_all.ipk" % (PACKAGE, version))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(blob)
    os.replace(tmp, path)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="firmware_pkg/build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(REPO, "dist"), help="output directory (default: dist/)")
    parser.add_argument("--python", default=DEFAULT_PYTHON,
                        help="the firmware's Python version, for the site-packages path (default %s)"
                        % DEFAULT_PYTHON)
    parser.add_argument("--compile", action="store_true", help="ship .pyc byte code instead of .py")
    parser.add_argument("--optimize", type=int, choices=(0, 1, 2), default=0,
                        help="with --compile: 1 drops asserts, 2 also docstrings")
    parser.add_argument("--no-strip", dest="strip", action="store_false",
                        help="ship the Python sources as they are, comments and docstrings included "
                        "(default: stripped, every statement on its original line)")
    args = parser.parse_args(argv)
    if not re.match(r"^3\.\d+$", args.python):
        parser.error("--python takes a version such as 3.11")
    path = build(args.out, args.python, args.compile, args.optimize, strip=args.strip)
    print("%s  %d bytes" % (path, os.path.getsize(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
