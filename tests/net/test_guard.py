"""The boot guard's one owner (vpnspot_router/net/guard.py): the guard.d files
and the loaded table follow the effective settings, whoever changes them.

In memory with FakeNftGuard, except the last tests, which load the shipped
guard file with the real nft in a private network namespace (root, nft,
unshare) and go through `vpnspot guard sync` as the init script does."""

import os
import shutil
import subprocess
import sys

import pytest

from vpnspot_router import configstore
from vpnspot_router.net import guard as gd

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIPPED = os.path.join(REPO, "firmware_pkg", "package", "vpnspot", "files", "vpnspot.nft")
LOCKED_ON = ("config provider 'provider'\n\toption name 'Example ISP'\n\tlist lock 'kill_switch'\n"
             "config vpnspot 'main'\n\toption kill_switch '1'\n")


class Router:
    """A router's files in a temporary directory and a guard over them."""

    def __init__(self, tmp_path, nft=None):
        self.config = tmp_path / "config"
        self.state = tmp_path / "state"
        self.config.mkdir()
        self.state.mkdir()
        self.paths = configstore.Paths(str(self.config / "vpnspot"), (str(self.state / "provisioning"),))
        self.nft = nft or gd.FakeNftGuard()
        self.guard = gd.BootGuard(self.paths, str(self.state), SHIPPED, self.nft)
        self.dir = self.state / "guard.d"

    def settings(self, **options):
        text = "config vpnspot 'main'\n" + "".join("\toption %s '%s'\n" % kv for kv in options.items())
        (self.config / "vpnspot").write_text(text)

    def files(self):
        return sorted(os.listdir(self.dir)) if self.dir.exists() else []

    def read(self, name):
        return (self.dir / name).read_text()


@pytest.fixture
def router(tmp_path):
    return Router(tmp_path)


def test_the_shipped_settings_load_the_whole_guard_and_write_no_file(router):
    result = router.guard.sync()
    assert router.files() == []
    assert router.nft.status() == {"loaded": True, "dns_guard": True, "lan_devices": ["br-lan"]}
    assert result["kill_switch"] and result["dns_guard"] and result["problem"] is None
    assert "LAN DNS to the router blocked" in gd.describe(result)


def test_kill_switch_off_then_on_leaves_no_off_file_and_the_guard_loaded(router):
    router.settings(kill_switch="0")
    router.guard.sync()
    assert router.files() == ["kill-switch-off.nft"]
    assert router.read("kill-switch-off.nft") == "delete table inet vpnspot_guard\n"
    assert router.nft.status()["loaded"] is False
    router.settings(kill_switch="1")
    router.guard.sync()
    assert router.files() == []
    assert router.nft.status() == {"loaded": True, "dns_guard": True, "lan_devices": ["br-lan"]}


def test_dns_mode_isp_switches_only_the_dns_chain_off(router):
    router.settings(dns_mode="isp")
    result = router.guard.sync()
    assert router.files() == ["dns-off.nft"]
    assert router.nft.status() == {"loaded": True, "dns_guard": False, "lan_devices": ["br-lan"]}
    assert "dns_mode isp" in gd.describe(result)
    router.settings(dns_mode="tunnel")
    router.guard.sync()
    assert router.files() == [] and router.nft.status()["dns_guard"] is True


def test_lan_devices_replace_the_shipped_set_and_only_a_caller_that_knows_them_changes_it(router):
    router.guard.sync(lan_devices=["br-lan.1", "br-guest"])
    assert router.read("lan-devices.nft") == (
        'flush set inet vpnspot_guard lan_devices\n'
        'add element inet vpnspot_guard lan_devices { "br-lan.1", "br-guest" }\n')
    assert router.nft.status()["lan_devices"] == ["br-lan.1", "br-guest"]
    # The web UI does not know the devices: the file stays as it was.
    router.settings(dns_mode="isp")
    router.guard.sync()
    assert router.files() == ["dns-off.nft", "lan-devices.nft"]
    assert router.nft.status()["lan_devices"] == ["br-lan.1", "br-guest"]
    # Back to br-lan alone: the shipped set needs no file.
    router.guard.sync(lan_devices=["br-lan"])
    assert router.files() == ["dns-off.nft"]
    assert router.nft.status()["lan_devices"] == ["br-lan"]


def test_a_kill_switch_switched_off_removes_every_other_file(router):
    router.settings(dns_mode="isp")
    router.guard.sync(lan_devices=["br-guest", "br-lan"])
    router.settings(kill_switch="0", dns_mode="isp")
    router.guard.sync(lan_devices=["br-guest", "br-lan"])
    # The others would name a table that kill-switch-off.nft deletes.
    assert router.files() == ["kill-switch-off.nft"]


def test_a_file_is_written_only_when_its_content_changes(router, monkeypatch):
    router.settings(kill_switch="0")
    router.guard.sync()
    before = os.stat(router.dir / "kill-switch-off.nft")
    writes = []
    real = gd.BootGuard._files

    def counting(self, wanted):
        written, removed = real(self, wanted)
        writes.extend(written + removed)
        return written, removed
    monkeypatch.setattr(gd.BootGuard, "_files", counting)
    for _ in range(3):
        router.guard.sync()
    after = os.stat(router.dir / "kill-switch-off.nft")
    assert writes == []
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_an_isp_lock_on_the_kill_switch_beats_the_household_file(router):
    (router.state / "provisioning").write_text(LOCKED_ON)
    router.settings(kill_switch="0")
    router.guard.sync()
    assert router.files() == [] and router.nft.status()["loaded"] is True


def test_settings_that_cannot_be_read_leave_the_guard_fully_on_and_say_why(router):
    router.settings(kill_switch="0", dns_mode="isp")
    router.guard.sync()
    assert router.nft.status()["loaded"] is False
    (router.state / "provisioning").write_text("config provider 'provider'\n\toption name '\n")
    result = router.guard.sync()
    assert router.files() == []
    assert router.nft.status() == {"loaded": True, "dns_guard": True, "lan_devices": ["br-lan"]}
    assert "provisioning" in result["problem"]
    assert "the guard is fully on" in gd.describe(result)


@pytest.mark.parametrize("devices", [["br-lan; drop"], ['br"lan'], ["a" * 16], []])
def test_a_bad_lan_device_is_refused_and_changes_nothing(router, devices):
    router.guard.sync(lan_devices=["br-guest"])
    before = (router.files(), router.read("lan-devices.nft"), router.nft.status())
    with pytest.raises(gd.GuardError) as e:
        router.guard.sync(lan_devices=devices)
    assert "the guard was not changed" in str(e.value)
    assert (router.files(), router.read("lan-devices.nft"), router.nft.status()) == before


def test_nft_refusing_the_guard_changes_no_file(router):
    router.guard.sync()
    router.settings(kill_switch="0")
    router.nft.fail_next = "Error: syntax error"
    with pytest.raises(gd.GuardError):
        router.guard.sync()
    assert router.files() == [] and router.nft.status()["loaded"] is True


def test_a_guard_file_without_the_guard_d_include_is_refused(router, tmp_path):
    other = tmp_path / "other.nft"
    other.write_text(open(SHIPPED).read().replace('include "/etc/vpnspot/guard.d/*.nft"', ""))
    router.guard.guard_file = str(other)
    with pytest.raises(gd.GuardError) as e:
        router.guard.sync()
    assert "guard.d" in str(e.value) and router.nft.status()["loaded"] is False


def test_the_transaction_is_the_guard_file_with_its_include_inlined(router):
    router.settings(dns_mode="isp")
    router.guard.sync()
    text = router.nft.history[-1]
    assert "include" not in text.split("table inet vpnspot_guard {}")[1]
    assert text.rstrip().endswith("flush chain inet vpnspot_guard dns")
    assert text.startswith(open(SHIPPED).read().split("include")[0][:200])


# -- the real nft, in a private network namespace --------------------------

def _can_use_netns():
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


needs_netns = pytest.mark.skipif(not _can_use_netns(), reason="needs root, nft and unshare")


def sync_cmd(router, *extra):
    argv = [sys.executable, "-m", "vpnspot_router", "guard", "sync", "--config-dir",
            str(router.config), "--state-dir", str(router.state), "--guard-file", SHIPPED]
    return " ".join("'%s'" % a for a in argv + list(extra))


def in_netns(script):
    return subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True,
                          cwd=REPO)


@needs_netns
def test_vpnspot_guard_sync_with_the_real_nft_follows_off_then_on(tmp_path):
    router = Router(tmp_path, gd.NftGuard())
    router.settings(kill_switch="0")
    off = sync_cmd(router)
    proc = in_netns("nft -f %s 2>/dev/null; %s && ! nft list table inet vpnspot_guard" % (
        SHIPPED, off))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "boot guard off" in proc.stdout
    assert router.files() == ["kill-switch-off.nft"]
    router.settings(kill_switch="1", dns_mode="isp")
    proc = in_netns("%s && nft list table inet vpnspot_guard" % sync_cmd(router, "--lan", "br-lan.1",
                                                                         "--lan", "br-guest"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert router.files() == ["dns-off.nft", "lan-devices.nft"]
    assert 'elements = { "br-lan.1",' in proc.stdout and '"br-guest" }' in proc.stdout
    assert 'chain dns {\n\t}' in proc.stdout.replace("\t\t", "\t")
    assert "vpnspot kill switch guard" in proc.stdout


@needs_netns
def test_fw4s_include_reads_the_files_sync_wrote(tmp_path):
    """What a firewall reload loads (the guard file and its guard.d include)
    is what sync loaded."""
    router = Router(tmp_path, gd.NftGuard())
    router.settings(dns_mode="isp")
    included = tmp_path / "90-vpnspot.nft"
    included.write_text(open(SHIPPED).read().replace("/etc/vpnspot/guard.d", str(router.dir)))
    script = ("%s >/dev/null && nft list table inet vpnspot_guard > %s/after-sync && "
              "nft flush ruleset && nft -f %s && nft list table inet vpnspot_guard" % (
                  sync_cmd(router, "--lan", "br-guest"), tmp_path, included))
    proc = in_netns(script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (tmp_path / "after-sync").read_text()
    assert '"br-guest"' in proc.stdout and "vpnspot dns guard" not in proc.stdout


@needs_netns
def test_unreadable_settings_exit_1_with_the_guard_fully_on(tmp_path):
    router = Router(tmp_path, gd.NftGuard())
    (router.state / "provisioning").write_text("config provider\n\toption name 'x\n")
    proc = in_netns("%s; echo rc=$?; nft list table inet vpnspot_guard" % sync_cmd(router))
    assert "rc=1" in proc.stdout, proc.stdout + proc.stderr
    assert "error:" in proc.stderr and "provisioning" in proc.stderr
    assert "vpnspot dns guard" in proc.stdout and "vpnspot kill switch guard" in proc.stdout
