"""hw/probe.py over fixture trees: which files are read and how the module state is found."""

import os

from vpnspot_router.core import hwprobe
from vpnspot_router.hw import probe

from tests.hw.captures import read, sections


def tree(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
    return str(tmp_path)


def filogic_tree(tmp_path, extra=None):
    files = {
        "proc/crypto": read("mt7981_safexcel_comfast_cf-xr186.txt"),
        "proc/cpuinfo": sections("cpuinfo_arm64_filogic.txt")["A"],
        "etc/openwrt_release": sections("openwrt_release_examples.txt")["A"],
        "tmp/sysinfo/model": "Xiaomi AX3000T\n",
        "tmp/sysinfo/board_name": "xiaomi,mi-router-ax3000t\n",
        "proc/device-tree/compatible": b"xiaomi,mi-router-ax3000t\x00mediatek,mt7981\x00",
        "proc/sys/kernel/osrelease": "6.6.73\n",
    }
    files.update(extra or {})
    return tree(tmp_path, files)


def test_a_filogic_tree_gives_the_full_profile(tmp_path):
    profile = probe.probe(filogic_tree(tmp_path))
    assert (profile.model, profile.board_name, profile.soc) == (
        "Xiaomi AX3000T", "xiaomi,mi-router-ax3000t", "mt7981")
    assert (profile.os_name, profile.os_version, profile.kernel_release) == (
        "OpenWrt", "SNAPSHOT", "6.6.73")
    assert profile.arch == "arm64" and "pmull" in profile.cpu_features
    assert [e.family for e in profile.engines] == ["safexcel"]
    assert profile.af_alg is None          # not asked: this is not the running system
    assert profile.wireguard_module == hwprobe.MODULE_UNKNOWN


def test_sys_module_wireguard_means_loaded(tmp_path):
    root = filogic_tree(tmp_path, {"sys/module/wireguard/refcnt": "0\n"})
    assert probe.probe(root).wireguard_module == hwprobe.MODULE_LOADED


def test_openwrt_kmod_file_without_modules_dep_means_available(tmp_path):
    root = filogic_tree(tmp_path, {"lib/modules/6.6.73/wireguard.ko": b"\x7fELF"})
    assert probe.probe(root).wireguard_module == hwprobe.MODULE_AVAILABLE


def test_modules_dep_and_builtin_entries_are_read_for_the_trees_kernel(tmp_path):
    root = filogic_tree(tmp_path, {
        "lib/modules/6.6.73/modules.dep":
            "kernel/drivers/net/wireguard/wireguard.ko: kernel/net/ipv4/udp_tunnel.ko\n"})
    assert probe.probe(root).wireguard_module == hwprobe.MODULE_AVAILABLE
    other = tmp_path / "other"
    other.mkdir()
    root = filogic_tree(other, {
        "lib/modules/6.6.73/modules.builtin": "kernel/drivers/net/wireguard/wireguard.ko\n"})
    assert probe.probe(root).wireguard_module == hwprobe.MODULE_BUILTIN


def test_a_module_tree_without_wireguard_means_absent(tmp_path):
    root = filogic_tree(tmp_path, {"lib/modules/6.6.73/modules.dep": "kernel/fs/ext4.ko:\n"})
    assert probe.probe(root).wireguard_module == hwprobe.MODULE_ABSENT


def test_modules_of_another_kernel_release_do_not_count(tmp_path):
    root = filogic_tree(tmp_path, {"lib/modules/5.15.0/wireguard.ko": b"x"})
    assert probe.probe(root).wireguard_module == hwprobe.MODULE_UNKNOWN


def test_the_system_interface_answers_modprobe_and_af_alg(tmp_path):
    root = filogic_tree(tmp_path)
    system = probe.FakeSystem(modprobe=True, af_alg=True)
    profile = probe.probe(root, system)
    assert profile.wireguard_module == hwprobe.MODULE_AVAILABLE and profile.af_alg is True
    assert system.calls == ["modprobe_dry_run:wireguard", "af_alg_works"]
    refused = probe.probe(root, probe.FakeSystem(modprobe=False, af_alg=False))
    assert refused.wireguard_module == hwprobe.MODULE_ABSENT and refused.af_alg is False


def test_kernel_release_comes_from_the_only_modules_directory_when_osrelease_is_missing(tmp_path):
    root = tree(tmp_path, {"lib/modules/5.10.176/wireguard.ko": b"x"})
    profile = probe.probe(root)
    assert profile.kernel_release == "5.10.176"
    assert profile.wireguard_module == hwprobe.MODULE_AVAILABLE


def test_an_empty_or_missing_root_gives_an_empty_profile(tmp_path):
    for root in (str(tmp_path), str(tmp_path / "does-not-exist")):
        profile = probe.probe(root)
        assert profile.sources == [] and profile.model is None and profile.engines == []


def test_unreadable_and_binary_files_do_not_raise(tmp_path):
    root = tree(tmp_path, {"proc/crypto": b"\xff\xfe\x00name : x\n", "etc/board.json": b"\x80"})
    os.mkdir(os.path.join(root, "proc", "cpuinfo"))       # a directory where a file should be
    profile = probe.probe(root)
    assert "proc/crypto" in profile.sources and "proc/cpuinfo" not in profile.sources


def test_ubus_output_saved_in_the_tree_is_read(tmp_path):
    root = tree(tmp_path, {probe.UBUS_BOARD_FILE:
                           sections("board_ubus_system_board_examples.txt")["C"]})
    profile = probe.probe(root)
    assert profile.model == "Raspberry Pi 4 Model B Rev 1.4"
    assert profile.soc == "bcm2711"


def test_the_host_probe_runs_and_reports_af_alg_as_a_boolean():
    profile = probe.probe("/")
    assert profile.af_alg in (True, False)
    assert profile.kernel_release == os.uname().release
