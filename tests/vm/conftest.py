"""The router VM fixture: one stock Debian kernel booted for the whole session.

Cost, measured on the 2-core test machine:
  - first run on a machine: `apt-get download` of linux-image-<version>-amd64
    (about 70 MB, seconds on a mirror), extracted to about 400 MB in
    /var/cache/vpnspot-routervm/<version>/ (VPNSPOT_ROUTERVM_CACHE overrides);
    later runs reuse it, and the initramfs (about 1.5 MB) built beside it;
  - every session: one boot under qemu TCG, 6-7 s to a root shell, 256 MB of
    guest memory; Python inside starts in about 3 s (imports over 9p).

Layout while the session runs:

    namespace vs......vmhost                      router VM (qemu, TCG)
      tap0 198.51.100.1/24  <--- virtio-net --->  eth0 198.51.100.2/24
      (wireguard-go or our userspace tunnel)      (kernel WireGuard, AF_ALG)

The guest's root is this machine's own `/` read-only with a tmpfs on top,
so the repository and its .venv are at the same paths inside. Files pass
both ways through `vm.xfer_dir` (host) = /xfer (guest).

These tests need root (namespaces, tap) and the tools setup.sh installs;
without them they fail with the reason, as the interop tests do. The
tests in guest/ run INSIDE the VM (the outer tests start them over the
serial console) and are not collected on the host.
"""

import os
import pathlib

import pytest

from vpnspot_router.lab import netns, routervm

HOST_TAP_ADDR = "198.51.100.1"
GUEST_ADDR = "198.51.100.2"
REPO = pathlib.Path(__file__).resolve().parents[2]
PYTHON = str(REPO / ".venv" / "bin" / "python")
GUEST_MARKER = "VPNSPOT_IN_ROUTERVM"

if not os.environ.get(GUEST_MARKER):
    collect_ignore_glob = ["guest/*"]


def _unavailable_reason():
    problems = []
    if os.geteuid() != 0:
        problems.append("not running as root (qemu's tap device and the namespace need it)")
    missing = routervm.missing_tools() + netns.missing_tools()
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if not os.path.exists("/dev/net/tun"):
        problems.append("/dev/net/tun does not exist")
    if not problems:
        return None
    return ("router VM cannot start: " + "; ".join(problems)
            + ". Run `bash vpnspot_router/lab/setup.sh` as root.")


class VMEnv(object):
    """What a VM test gets: the VM, the lab holding its tap, the namespace."""

    def __init__(self, vm, lab, ns):
        self.vm = vm
        self.lab = lab
        self.ns = ns

    def run(self, command, timeout=120.0, check=False):
        return self.vm.run(command, timeout=timeout, check=check)

    def python(self, args, timeout=300.0, check=False, env=""):
        """Run the host's venv Python inside the guest (args: shell text)."""
        return self.vm.run("cd %s && %s %s %s" % (REPO, env, PYTHON, args),
                           timeout=timeout, check=check)

    def write_xfer(self, name, text):
        """Write a file the guest reads as /xfer/NAME; return the guest path."""
        with open(os.path.join(self.vm.xfer_dir, name), "w") as f:
            f.write(text)
        return "/xfer/" + name


@pytest.fixture(scope="session")
def router_vm():
    reason = _unavailable_reason()
    if reason:
        pytest.fail(reason, pytrace=False)
    kernel = routervm.ensure_kernel()
    with netns.Lab() as lab:
        ns = lab.add_ns("vmhost")
        vm = routervm.RouterVM(kernel, lab.tmpdir, netns=ns)
        vm.start()
        try:
            print("\nrouter VM: kernel %s booted in %.1f s" % (kernel.version, vm.boot_seconds))
            lab.run(ns, "ip", "addr", "add", HOST_TAP_ADDR + "/24", "dev", vm.tap_name)
            lab.run(ns, "ip", "link", "set", vm.tap_name, "up")
            vm.run("ip addr add %s/24 dev eth0 && ip link set eth0 up" % GUEST_ADDR, check=True)
            netns.wait_for(lambda: vm.run("ping -c 1 -W 1 %s" % HOST_TAP_ADDR).ok, timeout=20,
                           what="the guest to reach the namespace over the tap")
            yield VMEnv(vm, lab, ns)
        finally:
            vm.stop()


@pytest.fixture
def vm_env(router_vm):
    """The session VM, with any WireGuard interface a test left behind removed."""
    yield router_vm
    router_vm.run("for d in $(ip -o link show type wireguard | cut -d: -f2); do ip link del $d; done")
