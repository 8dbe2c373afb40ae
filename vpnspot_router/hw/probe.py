"""Board and crypto probe, the reading half: files and kernel checks -> core Profile.

Owns: which files are read (all relative to a root directory, "/" on the
router, a fixture tree in tests), the WireGuard kernel module check and the
AF_ALG check. Parsing is core/hwprobe.py's job; this module only reads.

The OS boundary is the System interface: kernel_release(), modprobe_dry_run(
name) and af_alg_works(). HostSystem asks the running kernel; FakeSystem
beside it answers from fields, for tests. The running kernel is asked only
when the root is "/": a fixture tree's module state comes from its files.

Reading never raises: a missing or unreadable file is None, and the profile
says what it could not tell (wireguard_module "unknown", af_alg None).
"""

import os
import socket
import subprocess

from vpnspot_router.core import hwprobe

# Input name (as core/hwprobe.build_profile knows it) -> path under the root.
FILES = (
    ("proc/crypto", "proc/crypto"),
    ("proc/cpuinfo", "proc/cpuinfo"),
    ("etc/board.json", "etc/board.json"),
    ("tmp/sysinfo/model", "tmp/sysinfo/model"),
    ("tmp/sysinfo/board_name", "tmp/sysinfo/board_name"),
    ("device-tree/compatible", "proc/device-tree/compatible"),
    ("etc/openwrt_release", "etc/openwrt_release"),
    ("etc/os-release", "etc/os-release"),
    ("kernel_release", "proc/sys/kernel/osrelease"),
)
# Not a file: `ubus call system board` output, cached here by tests and
# by hosts that want it read without running ubus.
UBUS_BOARD_FILE = "tmp/vpnspot/ubus-system-board.json"
# Files are small; a cap keeps a runaway (or a device node) from eating RAM.
MAX_READ = 256 * 1024
WG_MODULE_NAMES = ("wireguard.ko", "wireguard.ko.xz", "wireguard.ko.zst", "wireguard.ko.gz")


class HostSystem(object):
    """The running kernel, asked directly."""

    def kernel_release(self):
        return os.uname().release

    def modprobe_dry_run(self, name):
        """True if `modprobe -n NAME` says it could load it, False if not,
        None when there is no modprobe to ask."""
        for cmd in ("modprobe", "/sbin/modprobe"):
            try:
                result = subprocess.run([cmd, "-n", name], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, timeout=5)
            except FileNotFoundError:
                continue
            except (OSError, subprocess.SubprocessError):
                return None
            return result.returncode == 0
        return None

    def af_alg_works(self):
        """True if an AF_ALG socket for the ChaCha20-Poly1305 AEAD binds."""
        family = getattr(socket, "AF_ALG", None)
        if family is None:
            return False
        try:
            s = socket.socket(family, socket.SOCK_SEQPACKET, 0)
        except OSError:
            return False
        try:
            s.bind(("aead", "rfc7539(chacha20,poly1305)"))
        except OSError:
            return False
        finally:
            s.close()
        return True


class FakeSystem(object):
    """A System answering from its fields, for tests."""

    def __init__(self, release="6.6.73", modprobe=None, af_alg=False):
        self.release = release
        self.modprobe = modprobe
        self.af_alg = af_alg
        self.calls = []

    def kernel_release(self):
        self.calls.append("kernel_release")
        return self.release

    def modprobe_dry_run(self, name):
        self.calls.append("modprobe_dry_run:" + name)
        return self.modprobe

    def af_alg_works(self):
        self.calls.append("af_alg_works")
        return self.af_alg


def read_text(root, rel):
    """The file's text (undecodable bytes replaced), or None if it cannot be read."""
    path = os.path.join(root, rel)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_READ)
    except OSError:
        return None
    return data.decode("utf-8", "replace")


def _exists(root, rel):
    return os.path.exists(os.path.join(root, rel))


def wireguard_module_state(root, release, system):
    """One of core.hwprobe.MODULE_* for the WireGuard kernel module."""
    if _exists(root, "sys/module/wireguard"):
        # Loaded as a module, or built in (then /sys/module/ has it too).
        return hwprobe.MODULE_LOADED
    if release:
        base = "lib/modules/%s" % release
        builtin = read_text(root, base + "/modules.builtin") or ""
        if "/wireguard.ko" in builtin:
            return hwprobe.MODULE_BUILTIN
        dep = read_text(root, base + "/modules.dep")
        if dep is not None and "/wireguard.ko" in dep:
            return hwprobe.MODULE_AVAILABLE
        # OpenWrt has no modules.dep: kmod-wireguard drops the .ko straight in.
        for name in WG_MODULE_NAMES:
            if _exists(root, base + "/" + name):
                return hwprobe.MODULE_AVAILABLE
    if system is not None:
        loadable = system.modprobe_dry_run("wireguard")
        if loadable is True:
            return hwprobe.MODULE_AVAILABLE
        if loadable is False:
            return hwprobe.MODULE_ABSENT
    if release and _exists(root, "lib/modules/%s" % release):
        return hwprobe.MODULE_ABSENT
    return hwprobe.MODULE_UNKNOWN


def read_inputs(root):
    """{input name: text or None} for every file the profile is built from."""
    texts = {}
    for name, rel in FILES:
        texts[name] = read_text(root, rel)
    texts["ubus_board"] = read_text(root, UBUS_BOARD_FILE)
    return texts


def probe(root="/", system=None):
    """The hardware Profile of the system under root.

    With root "/" the running kernel is asked too (HostSystem unless one is
    given). Under any other root the kernel release comes from the tree
    (proc/sys/kernel/osrelease, or the only directory under lib/modules) and
    the kernel is asked nothing unless a system is passed explicitly.
    """
    is_host = os.path.abspath(root) == "/"
    if system is None and is_host:
        system = HostSystem()
    texts = read_inputs(root)
    if texts["kernel_release"] is None:
        if system is not None:
            texts["kernel_release"] = system.kernel_release()
        else:
            texts["kernel_release"] = _only_modules_dir(root)
    profile = hwprobe.build_profile(texts)
    profile.wireguard_module = wireguard_module_state(root, profile.kernel_release, system)
    profile.af_alg = system.af_alg_works() if system is not None else None
    return profile


def _only_modules_dir(root):
    try:
        names = [n for n in os.listdir(os.path.join(root, "lib/modules"))
                 if os.path.isdir(os.path.join(root, "lib/modules", n))]
    except OSError:
        return None
    return names[0] if len(names) == 1 else None
