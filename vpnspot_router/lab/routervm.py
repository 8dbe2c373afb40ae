"""A router VM for tests that need a real kernel: stock Debian kernel under qemu.

Owns: fetching and caching the distribution kernel, building the small
initramfs, booting qemu-system-x86_64 (optionally inside a lab namespace, so
the VM's only network is a tap device in that namespace), and the serial
root shell the tests drive it through (lab/serialshell.py).

Why a VM: the test machine's own kernel has no WireGuard module and no
AF_ALG, and its /dev/kvm is a paravirtual flavour that hangs stock kernels,
so the VM runs under TCG (software emulation). Facts behind the choices
here are in the project's notes on the router VM; in short:

- Kernel: the package `linux-image-amd64` depends on, fetched with
  `apt-get download` (about 70 MB), unpacked with `dpkg-deb -x` (about
  400 MB) and indexed with `depmod -b` (the .deb ships no modules.dep).
  Cached in CACHE_DIR/VERSION/, complete once CACHE_DIR/VERSION/.complete
  exists; later runs cost nothing.
- Root filesystem: the host's own `/`, shared read-only over virtio-9p
  under a tmpfs overlay, so the host's Python, venv, `wg` and `ip` run
  inside unchanged. The cached `lib/modules` is bind-mounted over it and
  a writable 9p share (`/xfer` in the guest) carries files both ways.
- The initramfs is busybox-static, the module closure of the 9p and
  overlay drivers and an /init that mounts all of the above and
  `switch_root`s (not chroot: with chroot, automatic crypto module loading
  fails and AF_ALG bind returns ENOENT).
- Boot to a shell: 6-7 s under TCG. 256 MB of guest memory (96 MB boots,
  Python needs more).

Nothing here talks to the network except `apt-get download`.
"""

import gzip
import io
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time

from . import serialshell

CACHE_DIR = os.environ.get("VPNSPOT_ROUTERVM_CACHE", "/var/cache/vpnspot-routervm")
META_PACKAGE = "linux-image-amd64"
BUSYBOX = "/bin/busybox"
# Loaded by the initramfs, with their dependencies, before the root exists.
INITRAMFS_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
BOOT_TIMEOUT = 90.0
MEMORY_MB = 256


class RouterVMError(Exception):
    """The VM could not be prepared or booted; the message says which step."""


def _run(argv, timeout=600, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    if proc.returncode != 0:
        raise RouterVMError("%s failed (exit %d): %s" % (" ".join(argv), proc.returncode,
                                                         (proc.stderr or proc.stdout).strip()[-2000:]))
    return proc.stdout


def missing_tools():
    """Host tools the VM needs and that are not installed."""
    tools = ("qemu-system-x86_64", "dpkg-deb", "depmod", "modprobe", "apt-get", "apt-cache")
    out = [t for t in tools if shutil.which(t) is None]
    if not os.path.exists(BUSYBOX):
        out.append(BUSYBOX + " (busybox-static)")
    return out


# --------------------------------------------------------------------------
# The kernel


class Kernel(object):
    """An extracted, depmod-indexed kernel in the cache."""

    def __init__(self, root, version):
        self.root = root
        self.version = version
        self.vmlinuz = os.path.join(root, "boot", "vmlinuz-" + version)
        self.modules_dir = os.path.join(root, "lib", "modules")

    def __repr__(self):
        return "<Kernel %s in %s>" % (self.version, self.root)


def current_kernel_package():
    """'linux-image-6.1.0-56-amd64': what linux-image-amd64 depends on today."""
    out = _run(["apt-cache", "depends", META_PACKAGE], timeout=60)
    m = re.search(r"Depends:\s*(linux-image-\S+)", out)
    if not m:
        raise RouterVMError("apt-cache depends %s names no linux-image package:\n%s" % (META_PACKAGE, out))
    return m.group(1)


def _cached_versions(cache_dir):
    try:
        names = os.listdir(cache_dir)
    except OSError:
        return []
    return sorted(n for n in names if os.path.exists(os.path.join(cache_dir, n, ".complete")))


def ensure_kernel(cache_dir=CACHE_DIR, log=None):
    """The cached kernel, fetching and extracting it first if needed.

    The version follows `linux-image-amd64`; when apt cannot answer (no
    package lists, offline) the newest cached kernel is used instead.
    """
    say = log or (lambda msg: None)
    try:
        package = current_kernel_package()
    except (RouterVMError, OSError, subprocess.TimeoutExpired) as e:
        cached = _cached_versions(cache_dir)
        if not cached:
            raise RouterVMError("cannot tell which kernel to fetch and none is cached in %s: %s"
                                % (cache_dir, e))
        return Kernel(os.path.join(cache_dir, cached[-1]), cached[-1])
    version = package[len("linux-image-"):]
    root = os.path.join(cache_dir, version)
    if os.path.exists(os.path.join(root, ".complete")):
        return Kernel(root, version)
    os.makedirs(cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=version + ".partial-", dir=cache_dir)
    try:
        say("downloading %s (about 70 MB)" % package)
        _run(["apt-get", "download", package], cwd=work)
        debs = [f for f in os.listdir(work) if f.endswith(".deb")]
        if len(debs) != 1:
            raise RouterVMError("apt-get download %s left %r in %s" % (package, debs, work))
        tree = os.path.join(work, "tree")
        say("extracting %s (about 400 MB)" % debs[0])
        _run(["dpkg-deb", "-x", os.path.join(work, debs[0]), tree])
        _run(["depmod", "-b", tree, version])
        kernel = Kernel(tree, version)
        if not os.path.exists(kernel.vmlinuz):
            raise RouterVMError("%s has no %s" % (debs[0], kernel.vmlinuz))
        with open(os.path.join(tree, ".complete"), "w") as f:
            f.write(package + "\n")
        if os.path.exists(root):
            shutil.rmtree(root)   # an older incomplete attempt
        os.rename(tree, root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Kernel(root, version)


# --------------------------------------------------------------------------
# The initramfs

# Stage 1 runs from the initramfs: modules, mounts, switch_root.
_INIT_STAGE1 = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules/order); do insmod "/modules/$m" || echo "stage1: insmod $m failed"; done
mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || exec sh
mount -t tmpfs -o size=96m tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot || exec sh
mkdir -p /newroot/lib/modules /newroot/xfer
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose modules /newroot/lib/modules
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none xfer /newroot/xfer
cp /stage2 /newroot/vpnspot-stage2
umount /proc /sys /dev
exec switch_root /newroot /bin/busybox sh /vpnspot-stage2
"""

# Stage 2 is PID 1 in the switched root: fresh kernel filesystems, quiet
# console, then a root shell on ttyS0 for ever (respawned if it exits).
_INIT_STAGE2 = r"""
# Busybox's own applets by full name: the host's PATH tools are not all
# busybox-compatible, and PATH is not set yet.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts devpts /dev/pts
$bb mount -t tmpfs tmpfs /dev/shm
$bb mount -t tmpfs tmpfs /run
# /tmp stays the host's (read-only below, writable in the overlay): a CI
# checkout may live under /tmp, and the guest must find it there.
echo 1 > /proc/sys/kernel/printk
$bb hostname routervm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb PS1= PS2=
ip link set lo up
# No udev in here: load the NIC driver by hand.
modprobe virtio_net
cd /
while true; do
	$bb setsid -c /bin/sh -i </dev/ttyS0 >/dev/ttyS0 2>&1
	$bb sleep 1
done
"""


def _cpio_newc(entries):
    """An uncompressed newc cpio archive: entries are (name, mode, data)."""
    out = io.BytesIO()

    def add(name, mode, data, ino):
        name_b = name.encode() + b"\x00"
        header = "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X" % (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0)
        out.write(header.encode() + name_b)
        out.write(b"\x00" * (-(110 + len(name_b)) % 4))
        out.write(data)
        out.write(b"\x00" * (-len(data) % 4))

    for ino, (name, mode, data) in enumerate(entries, 1):
        add(name, mode, data, ino)
    add("TRAILER!!!", 0, b"", 0)
    return out.getvalue()


def module_closure(kernel, names=INITRAMFS_MODULES):
    """Module file paths to insmod, dependencies first, without duplicates."""
    paths = []
    for name in names:
        out = _run(["modprobe", "-d", kernel.root, "-S", kernel.version, "--show-depends", name])
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "insmod" and parts[1] not in paths:
                paths.append(parts[1])
    return paths


def build_initramfs(kernel):
    """Build (once per kernel and init script) the initramfs; return its path."""
    d = os.path.join(kernel.root, ".initramfs")
    key = "%08x" % (hash_text(_INIT_STAGE1 + _INIT_STAGE2) & 0xFFFFFFFF)
    path = os.path.join(d, "initramfs-%s.cpio.gz" % key)
    if os.path.exists(path):
        return path
    modules = module_closure(kernel)
    entries = [("bin", stat.S_IFDIR | 0o755, b""), ("proc", stat.S_IFDIR | 0o755, b""),
               ("sys", stat.S_IFDIR | 0o755, b""), ("dev", stat.S_IFDIR | 0o755, b""),
               ("modules", stat.S_IFDIR | 0o755, b"")]
    with open(BUSYBOX, "rb") as f:
        entries.append(("bin/busybox", stat.S_IFREG | 0o755, f.read()))
    entries.append(("init", stat.S_IFREG | 0o755, _INIT_STAGE1.encode()))
    entries.append(("stage2", stat.S_IFREG | 0o644, _INIT_STAGE2.encode()))
    order = []
    for p in modules:
        base = os.path.basename(p)
        with open(p, "rb") as f:
            entries.append(("modules/" + base, stat.S_IFREG | 0o644, f.read()))
        order.append(base)
    entries.append(("modules/order", stat.S_IFREG | 0o644, ("\n".join(order) + "\n").encode()))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with gzip.open(tmp, "wb", compresslevel=6) as f:
        f.write(_cpio_newc(entries))
    os.replace(tmp, path)
    for name in os.listdir(d):
        # Images built from an older init script are never used again.
        if name.startswith("initramfs-") and os.path.join(d, name) != path:
            os.unlink(os.path.join(d, name))
    return path


def hash_text(text):
    # A stable digest (str.__hash__ is salted per process).
    import hashlib
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


# --------------------------------------------------------------------------
# The VM


class RouterVM(object):
    """One qemu process and the root shell on its first serial port.

    A second serial port (ttyS1 in the guest, `console_pty` on the host) is
    left free for what a technician's USB-serial adapter would reach: the
    console tests run `vpnspot console --tty /dev/ttyS1` there.

    `netns` (a namespace name) runs qemu inside that namespace with a tap
    device `tap_name` there; the guest sees it as eth0 (virtio-net). Without
    it the guest has no network but loopback.
    """

    def __init__(self, kernel, workdir, netns=None, tap_name="tap0", memory_mb=MEMORY_MB):
        self.kernel = kernel
        self.workdir = workdir
        self.xfer_dir = os.path.join(workdir, "xfer")   # /xfer inside the guest
        self.netns = netns
        self.tap_name = tap_name
        self.memory_mb = memory_mb
        self.proc = None
        self.shell = None
        self.port = None
        self.console_pty = None
        self.boot_seconds = None
        self.log_path = os.path.join(workdir, "qemu.log")
        self.console_path = os.path.join(workdir, "console.log")
        self._console_log = None

    def command(self, initramfs):
        argv = ["qemu-system-x86_64", "-accel", "tcg", "-m", str(self.memory_mb), "-smp", "1",
                "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
                "-kernel", self.kernel.vmlinuz, "-initrd", initramfs,
                "-append", "console=ttyS0 quiet loglevel=1 panic=-1 tsc=unstable",
                "-serial", "pty", "-serial", "pty",
                "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
                "-virtfs", "local,path=%s,mount_tag=modules,security_model=none,readonly=on"
                % self.kernel.modules_dir,
                "-virtfs", "local,path=%s,mount_tag=xfer,security_model=none" % self.xfer_dir]
        if self.netns:
            argv += ["-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no" % self.tap_name,
                     "-device", "virtio-net-pci,netdev=n0"]
            argv = ["ip", "netns", "exec", self.netns] + argv
        return argv

    def start(self, timeout=BOOT_TIMEOUT):
        """Boot and wait for the shell; returns self. Raises RouterVMError."""
        os.makedirs(self.xfer_dir, exist_ok=True)
        initramfs = build_initramfs(self.kernel)
        t0 = time.monotonic()
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.command(initramfs), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True)
        finally:
            log.close()
        try:
            pty, self.console_pty = self._wait_for_pty(t0 + 20)
            self.port = serialshell.PyserialPort(pty)
            self._console_log = open(self.console_path, "w")
            self.shell = serialshell.SerialShell(self.port, log=self._console_log)
            self.shell.sync(timeout=max(1.0, timeout - (time.monotonic() - t0)))
        except Exception as e:
            self.stop()
            raise RouterVMError("router VM did not boot: %s\nqemu log: %s\nconsole: %s"
                                % (e, self._tail(self.log_path), self._tail(self.console_path)))
        self.boot_seconds = time.monotonic() - t0
        return self

    def _wait_for_pty(self, deadline):
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RouterVMError("qemu exited with %d" % self.proc.returncode)
            found = dict((label, path) for path, label in re.findall(
                r"char device redirected to (/dev/pts/\d+) \(label (\w+)\)", self._tail(self.log_path)))
            if "serial0" in found and "serial1" in found:
                return found["serial0"], found["serial1"]
            time.sleep(0.05)
        raise RouterVMError("qemu did not name both serial ptys")

    @staticmethod
    def _tail(path, n=3000):
        try:
            with open(path, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def run(self, command, timeout=120.0, check=False):
        """Run a shell command in the guest as root; a CommandResult."""
        if self.shell is None:
            raise RouterVMError("the router VM is not running")
        return self.shell.run(command, timeout=timeout, check=check)

    def stop(self, timeout=15.0):
        """Power off (sysrq o: no shutdown scripts to wait for), then make
        sure qemu is gone. Safe to call more than once."""
        if self.shell is not None and self.proc is not None and self.proc.poll() is None:
            try:
                self.shell.send_raw("echo o > /proc/sysrq-trigger\n")
            except OSError:
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for obj in (self.port, self._console_log):
            if obj is not None:
                try:
                    obj.close()
                except OSError:
                    pass
        self.port = self.shell = self._console_log = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
