"""Every real capture in hardware/captures/ through the probe and the decision.

The captures come from public OpenWrt threads (first line of each names its
source). For each, the profile the core parsers build is asserted, then the
decision with and without the kernel WireGuard module, from measurements
that stand for a router where OpenSSL beats pure Python (inputs, not results).
"""

import re

import pytest

from vpnspot_router.core import hwprobe, offload
from vpnspot_router.hw import boards

from tests.hw.captures import CAPTURES, SHARED, read, sections

MEASURED = {"openssl": {64: 90000.0, 512: 60000.0, 1420: 30000.0},
            "pure": {64: 300.0, 512: 80.0, 1420: 30.0}}


def crypto_profile(name, **extra):
    texts = {"proc/crypto": read(name)}
    texts.update(extra)
    return hwprobe.build_profile(texts)


def both_decisions(profile):
    return (offload.decide(profile, True, MEASURED), offload.decide(profile, False, MEASURED))


def test_every_shared_capture_is_copied_verbatim_with_its_source_line():
    shared = sorted(p.name for p in SHARED.glob("*.txt")) if SHARED.is_dir() else []
    ours = sorted(p.name for p in CAPTURES.glob("*.txt"))
    assert len(ours) >= 13
    for name in shared:
        assert name in ours, "capture %s not copied into hardware/captures" % name
        assert (CAPTURES / name).read_bytes() == (SHARED / name).read_bytes()
    for name in ours:
        first = read(name).splitlines()[0]
        assert first.startswith("# SOURCE"), "%s: first line must name its source" % name


def test_every_capture_builds_a_profile_without_raising():
    for path in sorted(CAPTURES.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for key in ("proc/crypto", "proc/cpuinfo", "etc/board.json", "ubus_board",
                    "etc/openwrt_release", "etc/os-release", "dmesg"):
            profile = hwprobe.build_profile({key: text})
            offload.decide(profile, False, MEASURED)
        # Truncated at every tenth of its length, as a cut-off paste would be.
        for cut in range(0, len(text), max(1, len(text) // 10)):
            hwprobe.build_profile({"proc/crypto": text[:cut], "ubus_board": text[:cut],
                                   "proc/cpuinfo": text[:cut]})


def test_mt7981_safexcel_engine_present_without_chacha20_poly1305():
    profile = crypto_profile("mt7981_safexcel_comfast_cf-xr186.txt")
    engine = profile.engine("safexcel")
    assert [e.family for e in profile.engines] == ["safexcel"]
    assert engine.priority == 300
    assert set(engine.modules) == {"crypto_safexcel", "kernel"}
    assert engine.algorithms == ["rfc4309(ccm(aes))", "rfc4543(gcm(aes))", "hmac(md5)",
                                 "sha512", "sha384", "sha256", "sha224"]
    assert not engine.has_chacha20_poly1305
    assert profile.cpu_impls == {}
    assert profile.notes == ["/proc/crypto: 1 block(s) without name or driver ignored "
                             "(truncated?)"]
    kernel, userspace = both_decisions(profile)
    assert kernel.reason == ("engine safexcel present, no ChaCha20-Poly1305 support; "
                             "using kernel WireGuard")
    assert (userspace.data_plane, userspace.provider) == ("userspace", "openssl")
    assert "engine safexcel present, no ChaCha20-Poly1305 support" in userspace.reason
    assert not [c for c in userspace.candidates if c["kind"] == "engine" and c["eligible"]]


def test_mt7986_safexcel_mask_lacks_the_chacha20_and_poly1305_bits():
    profile = hwprobe.build_profile({"dmesg": read("mt7986_safexcel_dmesg_algmask.txt")})
    assert profile.notes == ["safexcel capability mask 0x7fe1fc00: ChaCha20 no, Poly1305 no"]
    assert offload.decide(profile, True, MEASURED).data_plane == "kernel"


def test_ipq40xx_grep_output_shows_neon_chacha_and_no_engine():
    profile = crypto_profile("ipq40xx_neon_grep_poly.txt")
    assert profile.engines == []
    assert [i["driver"] for i in profile.cpu_impls["rfc7539"]] == [
        "rfc7539esp(chacha20-neon,poly1305-generic)"]
    assert [i["driver"] for i in profile.cpu_impls["poly1305"]] == ["poly1305-generic"]
    kernel, userspace = both_decisions(profile)
    assert kernel.reason == "kernel WireGuard module present; using kernel WireGuard"
    assert userspace.provider == "openssl"


def test_mips_capture_shows_chacha_mips_and_poly1305_mips():
    profile = crypto_profile("mips_chacha20_poly1305_openwrt.txt")
    assert profile.engines == []
    assert [i["driver"] for i in profile.cpu_impls["poly1305"]] == ["poly1305-mips"]
    assert [i["module"] for i in profile.cpu_impls["chacha20"]] == ["chacha_mips"]
    assert profile.rfc7539_drivers() == []   # only the ESP variant is registered
    kernel, _ = both_decisions(profile)
    assert kernel.reason == ("kernel WireGuard module present; using kernel WireGuard "
                             "(ChaCha20-Poly1305 on the CPU: xchacha12-mips, poly1305-mips)")


def test_airoha_arm32_neon_and_the_lskcipher_type():
    profile = crypto_profile("airoha_arm32_neon.txt")
    blocks = hwprobe.parse_proc_crypto(read("airoha_arm32_neon.txt"))
    assert [b["type"] for b in blocks] == ["lskcipher", "skcipher", "shash", "skcipher"]
    assert profile.engines == []
    assert [i["module"] for i in profile.cpu_impls["chacha20"]] == ["chacha_neon"]
    assert [i["driver"] for i in profile.cpu_impls["poly1305"]] == ["poly1305-arm"]
    assert both_decisions(profile)[0].reason.endswith(
        "(ChaCha20-Poly1305 on the CPU: xchacha12-arm, poly1305-arm)")


def test_x86_aesni_paste_without_blank_lines_is_cpu_code_only():
    profile = crypto_profile("x86_64_aesni_generic.txt")
    blocks = hwprobe.parse_proc_crypto(read("x86_64_aesni_generic.txt"))
    assert [b["driver"] for b in blocks] == ["xts-aes-aesni", "ctr-aes-aesni",
                                             "cbc-aes-aesni", "ecb-aes-aesni"]
    assert profile.engines == [] and profile.cpu_impls == {}
    kernel, userspace = both_decisions(profile)
    assert kernel.data_plane == "kernel" and userspace.provider == "openssl"


@pytest.mark.parametrize("label, soc, cores, core", [("A", "Cortex-A53", 2, "0xd03"),
                                                     ("B", "Cortex-A53", 1, "0xd03"),
                                                     ("C", "Cortex-A73", 1, "0xd09")])
def test_filogic_cpuinfo_has_armv8_crypto_extensions(label, soc, cores, core):
    text = sections("cpuinfo_arm64_filogic.txt")[label]
    profile = hwprobe.build_profile({"proc/cpuinfo": text})
    assert profile.arch == "arm64" and profile.simd == "asimd"
    assert profile.cpu_model == soc and profile.cpu_cores == cores
    assert profile.cpu_features == ["aes", "asimd", "crc32", "pmull", "sha1", "sha2"]
    assert offload.decide(profile, True, MEASURED).reason.endswith(
        "(ChaCha20-Poly1305 on the CPU's asimd code)")


@pytest.mark.parametrize("label, model", [("A", "TP-Link Archer C6U v1"), ("B", "Hualink,HC841")])
def test_mt7621_cpuinfo_names_soc_and_machine(label, model):
    text = sections("cpuinfo_mips_mt7621.txt")[label]
    profile = hwprobe.build_profile({"proc/cpuinfo": text, "etc/os-release": text})
    assert (profile.arch, profile.soc, profile.model) == ("mips", "mt7621", model)
    assert profile.cpu_model == "MIPS 1004Kc V2.15"
    soc, entry = boards.match(profile, boards.load_boards())
    assert soc == "mt7621" and entry["kernel_wireguard_code"] == ["chacha-mips", "poly1305-mips"]
    if label == "B":
        assert (profile.os_name, profile.os_version, profile.os_target) == (
            "OpenWrt", "22.03-SNAPSHOT", "ramips/mt7621")


@pytest.mark.parametrize("label, model_id, model_name", [
    ("A", "gl-ar750s", "GL-AR750S"), ("B", "netgear,rbs750", "Netgear RBS750")])
def test_board_json_examples_give_model_id_and_name(label, model_id, model_name):
    profile = hwprobe.build_profile({"etc/board.json": sections("board_json_examples.txt")[label]})
    assert (profile.board_name, profile.model) == (model_id, model_name)


@pytest.mark.parametrize("label, expected", [
    ("A", ("GL.iNet GL-AR750", "gl-ar750", "OpenWrt", "SNAPSHOT", "ar71xx/generic", "qca9533")),
    ("B", ("Raspberry Pi 3 Model B Rev 1.2", "raspberrypi,3-model-b", "OpenWrt", "19.07.8",
           "brcm2708/bcm2710", "bcm2710")),
    ("C", ("Raspberry Pi 4 Model B Rev 1.4", "raspberrypi,4-model-b", "OpenWrt", "21.02.0-rc1",
           "bcm27xx/bcm2711", "bcm2711")),
    ("D", ("QEMU Standard PC (i440FX + PIIX, 1996)", "qemu-standard-pc-i440fx-piix-1996",
           "LiMe", "17.06", "x86/64", None)),
])
def test_ubus_system_board_examples(label, expected):
    text = sections("board_ubus_system_board_examples.txt")[label]
    # Section D holds /etc/openwrt_release first, then the ubus JSON.
    profile = hwprobe.build_profile({"ubus_board": text, "etc/openwrt_release": text})
    got = (profile.model, profile.board_name, profile.os_name, profile.os_version,
           profile.os_target, profile.soc)
    assert got == expected


def test_openwrt_release_and_os_release_examples():
    parts = sections("openwrt_release_examples.txt")
    filogic = hwprobe.build_profile({"etc/openwrt_release": parts["A"]})
    assert (filogic.os_name, filogic.os_version, filogic.os_target, filogic.arch) == (
        "OpenWrt", "SNAPSHOT", "mediatek/filogic", "arm64")
    hisi = hwprobe.build_profile({"etc/os-release": parts["B"]})
    assert (hisi.os_name, hisi.os_version, hisi.os_target, hisi.arch) == (
        "OpenWrt", "SNAPSHOT", "hi35xx/18ev200", "arm")


def test_sysinfo_example_compatible_gives_board_and_soc():
    text = read("sysinfo_sources.txt")
    found = re.search(r"/proc/device-tree/compatible = '([^']*)'", text).group(1)
    compatible = found.replace("\\0", "\x00")
    profile = hwprobe.build_profile({"device-tree/compatible": compatible})
    assert (profile.board_name, profile.soc) == ("yuncore,ax835", "mt7981")
    assert boards.match(profile, boards.load_boards())[0] == "mt7981"


def _bench_rows():
    rows = []
    for line in read("wireguard_throughput_wg-bench.txt").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3:
            continue
        m = re.match(r"([\d.]+) (M|G)bits?/sec", cells[2])
        if m:
            mbps = float(m.group(1)) * (1000 if m.group(2) == "G" else 1)
            rows.append((cells[0], mbps))
    return rows


def test_board_data_throughput_agrees_with_the_wg_bench_capture():
    rows = _bench_rows()
    assert len(rows) >= 50
    socs = boards.load_boards()
    assert {"mt7621", "ipq40xx", "mt7981", "mt7986", "x86_64"} <= set(socs)
    for soc, entry in socs.items():
        speeds = [mbps for device, mbps in rows
                  if any(pattern in device for pattern in entry["bench_rows"])]
        assert speeds, "%s: no wg-bench row matches %s" % (soc, entry["bench_rows"])
        assert entry["wireguard_mbps"] == {"min": min(speeds), "max": max(speeds)}, soc


def test_board_data_engines_agree_with_the_captured_engines():
    socs = boards.load_boards()
    captured = crypto_profile("mt7981_safexcel_comfast_cf-xr186.txt").engine("safexcel")
    listed = socs["mt7981"]["engines"][0]
    assert listed["family"] == captured.family
    assert listed["chacha20_poly1305"] == captured.has_chacha20_poly1305
    for soc, entry in socs.items():
        for engine in entry["engines"]:
            assert engine["family"] in [f for _, f in hwprobe.ENGINE_DRIVERS], soc
            # No known router engine does WireGuard's AEAD: the board data must say so.
            assert engine["chacha20_poly1305"] is False, soc
