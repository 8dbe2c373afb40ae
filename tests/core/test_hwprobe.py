"""core/hwprobe.py: the parsers take what they recognise and never raise on content.

Snippets below are cut from the real captures in hardware/captures/ (the
file each comes from is named beside it); tests/hw/test_captures.py runs
every whole capture. Portable: runs under MicroPython too.
"""

from vpnspot_router.core import hwprobe

# hardware/captures/x86_64_aesni_generic.txt: a paste that lost its blank lines.
NO_BLANK_LINES = """name         : xts(aes)
driver       : xts-aes-aesni
module       : aesni_intel
priority     : 401
type         : skcipher
min keysize  : 32
name         : ctr(aes)
driver       : ctr-aes-aesni
module       : aesni_intel
priority     : 400
type         : skcipher
"""

# hardware/captures/mt7981_safexcel_comfast_cf-xr186.txt, with its prompt.
SAFEXCEL = """root@OpenWrt-COMFAST:~# cat /proc/crypto
name         : rfc4309(ccm(aes))
driver       : safexcel-rfc4309-ccm-aes
module       : crypto_safexcel
priority     : 300
type         : aead

name         : rfc4543(gcm(aes))
driver       : safexcel-rfc4543-gcm-aes
module       : kernel
priority     : 300
type         : aead

# ... [gap: rfc4106(gcm(aes)) etc. not captured] ...
selftest     : passed
type         : ahash
digestsize   : 20

name         : sha256
driver       : safexcel-sha256
module       : crypto_safexcel
priority     : 300
type         : ahash
"""

# hardware/captures/mips_chacha20_poly1305_openwrt.txt (trimmed).
MIPS = """name         : rfc7539esp(chacha20,poly1305)
driver       : rfc7539esp(chacha20-mips,poly1305-mips)
module       : chacha20poly1305
priority     : 200
type         : aead

name         : poly1305
driver       : poly1305-mips
module       : poly1305_mips
priority     : 200
type         : shash

name         : xchacha12
driver       : xchacha12-mips
module       : chacha_mips
"""

# An engine that does register the AEAD (safexcel on EIP-197 builds with
# the ChaCha20/Poly1305 options; driver name and priority from the driver).
SAFEXCEL_WITH_AEAD = """name         : rfc7539(chacha20,poly1305)
driver       : safexcel-chacha20-poly1305
module       : crypto_safexcel
priority     : 301
type         : aead
"""


def test_proc_crypto_blocks_split_on_name_when_blank_lines_are_missing():
    blocks = hwprobe.parse_proc_crypto(NO_BLANK_LINES)
    assert [b["driver"] for b in blocks] == ["xts-aes-aesni", "ctr-aes-aesni"]
    assert blocks[0]["min keysize"] == "32"
    assert blocks[1]["priority"] == "400"


def test_proc_crypto_ignores_prompts_comments_and_grep_separators():
    blocks = hwprobe.parse_proc_crypto("root@OpenWrt:~# cat /proc/crypto | grep -B1 poly\n\n"
                                       "name : poly1305\ndriver : poly1305-generic\n--\n"
                                       "name : rfc7539esp(chacha20,poly1305)\n")
    assert blocks == [{"name": "poly1305", "driver": "poly1305-generic"},
                      {"name": "rfc7539esp(chacha20,poly1305)"}]


def test_proc_crypto_parser_never_raises_on_garbage():
    for text in (None, "", ":::", "name", "\x00\xff : x", "name : \nname : \n", "a" * 5000,
                 "priority : many\nname : x"):
        hwprobe.parse_proc_crypto(text)
        hwprobe.build_profile({"proc/crypto": text})


def test_safexcel_is_an_engine_without_chacha20_poly1305():
    engines, cpu_impls, skipped = hwprobe.crypto_summary(hwprobe.parse_proc_crypto(SAFEXCEL))
    assert [e.family for e in engines] == ["safexcel"]
    engine = engines[0]
    assert engine.priority == 300
    assert engine.modules == ["crypto_safexcel", "kernel"]
    assert "rfc4543(gcm(aes))" in engine.algorithms
    assert not engine.has_chacha20_poly1305
    assert engine.wireguard == {}
    assert cpu_impls == {}
    assert skipped == 1   # the block cut off before its name


def test_an_engine_registering_rfc7539_is_reported_with_its_driver():
    engines, _, _ = hwprobe.crypto_summary(hwprobe.parse_proc_crypto(SAFEXCEL_WITH_AEAD))
    assert engines[0].has_chacha20_poly1305
    assert engines[0].rfc7539_drivers == ["safexcel-chacha20-poly1305"]
    assert engines[0].priority == 301


def test_mips_assembly_is_cpu_code_not_an_engine():
    engines, cpu_impls, _ = hwprobe.crypto_summary(hwprobe.parse_proc_crypto(MIPS))
    assert engines == []
    assert [i["driver"] for i in cpu_impls["poly1305"]] == ["poly1305-mips"]
    assert [i["module"] for i in cpu_impls["chacha20"]] == ["chacha_mips"]
    # rfc7539esp is IPsec's variant: AF_ALG cannot open it as rfc7539.
    assert cpu_impls["rfc7539"][0]["driver"] == "rfc7539esp(chacha20-mips,poly1305-mips)"
    profile = hwprobe.build_profile({"proc/crypto": MIPS})
    assert profile.rfc7539_drivers() == []


def test_engine_family_is_decided_by_driver_or_module_not_priority():
    assert hwprobe.engine_family("safexcel-sha256", "kernel") == "safexcel"
    assert hwprobe.engine_family("cbc-aes-eip93", "crypto_hw_eip93") == "eip93"
    assert hwprobe.engine_family("ctr-aes-aesni", "aesni_intel") is None
    assert hwprobe.engine_family("chacha20-neon", "chacha_neon") is None


def test_arm64_cpuinfo_gives_crypto_extensions_and_the_core_name():
    # hardware/captures/cpuinfo_arm64_filogic.txt, section A.
    info = hwprobe.parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 26.00\n"
                                 "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n"
                                 "CPU implementer\t: 0x41\nCPU architecture: 8\n"
                                 "CPU part\t: 0xd03\n\nprocessor\t: 1\n")
    assert info["arch"] == "arm64"
    assert info["features"] == ["aes", "asimd", "crc32", "pmull", "sha1", "sha2"]
    assert info["cpu_model"] == "Cortex-A53"
    assert info["cores"] == 2
    assert hwprobe.simd_of(info["arch"], info["features"]) == "asimd"


def test_mips_cpuinfo_names_the_soc_in_system_type():
    # hardware/captures/cpuinfo_mips_mt7621.txt, section A.
    text = ("system type             : MediaTek MT7621 ver:1 eco:3\n"
            "machine                 : TP-Link Archer C6U v1\n"
            "processor               : 0\ncpu model               : MIPS 1004Kc V2.15\n")
    profile = hwprobe.build_profile({"proc/cpuinfo": text})
    assert profile.arch == "mips"
    assert profile.soc == "mt7621" and profile.soc_source == "cpuinfo"
    assert profile.model == "TP-Link Archer C6U v1"
    assert profile.cpu_model == "MIPS 1004Kc V2.15"
    assert profile.simd is None


def test_x86_cpuinfo_flags_give_avx_and_aes():
    text = ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Celeron(R) N5105\n"
            "flags\t\t: fpu sse2 ssse3 aes pclmulqdq avx avx2 sha_ni rdrand\n")
    info = hwprobe.parse_cpuinfo(text)
    assert info["arch"] == "x86"
    assert info["features"] == ["aes", "avx", "avx2", "pclmulqdq", "sha_ni", "ssse3"]
    assert hwprobe.simd_of("x86", info["features"]) == "avx2"


def test_arm32_neon_is_arm_not_arm64():
    info = hwprobe.parse_cpuinfo("processor : 0\nFeatures : half thumb fastmult vfp edsp neon "
                                 "vfpv3 tls vfpv4 idiva idivt\nCPU architecture: 7\n"
                                 "CPU part : 0xc07\n")
    assert info["arch"] == "arm" and info["features"] == ["neon"]
    assert info["cpu_model"] == "Cortex-A7"


def test_ubus_json_with_a_raw_newline_in_a_string_still_parses():
    # hardware/captures/board_ubus_system_board_examples.txt, section D.
    text = ('root@LiMe:/# ubus call system board\n{\n "kernel": "4.9.40",\n'
            ' "model": "QEMU Standard PC (i440FX + PIIX, 1996)",\n'
            ' "board_name": "qemu-standard-pc-i440fx-piix-1996",\n'
            ' "release": {\n\t"distribution": "LiMe",\n\t"version": "17.06",\n'
            '\t"target": "x86\\/64",\n\t"description": "LiMe 17.06 (rev.13a91e0\n20170812)"\n'
            ' }\n}\n')
    ubus = hwprobe.parse_ubus_board(text)
    assert ubus["model"] == "QEMU Standard PC (i440FX + PIIX, 1996)"
    assert ubus["distribution"] == "LiMe" and ubus["version"] == "17.06"
    assert ubus["target"] == "x86/64"
    assert ubus["kernel"] == "4.9.40"


def test_truncated_board_json_still_gives_the_model():
    text = ('{\n\t"model": {\n\t\t"id": "gl-ar750s",\n\t\t"name": "GL-AR750S"\n\t},\n'
            '\t"switch": {\n\t\t"switch0": {\n\t\t\t"ports": [\n\t\t\t\t{\n\t\t\t\t\t"num": 0,')
    assert hwprobe.parse_board_json(text) == {"model_id": "gl-ar750s", "model_name": "GL-AR750S"}


def test_strings_inside_arrays_do_not_pose_as_top_level_fields():
    flat = hwprobe.flat_json('{"a": [{"model": "x"}], "model": {"id": "y"}}')
    assert flat == {"model.id": "y"}


def test_json_scanner_never_raises_on_garbage():
    for text in (None, "", "{", '{"a', '{"a": "\\u12', "}}}]]", '{"a": [1, {"b": }', "[{]"):
        hwprobe.flat_json(text)
        hwprobe.parse_ubus_board(text)


def test_env_files_take_quotes_and_multiline_values_and_skip_prompts():
    text = ("root@x:/# cat /etc/openwrt_release\nDISTRIB_ID='OpenWrt'\n"
            "DISTRIB_RELEASE='SNAPSHOT'\nDISTRIB_TARGET='mediatek/filogic'\n"
            "DISTRIB_DESCRIPTION='LiMe 17.06 (17.06 rev.13a91e0\n20170812_2135)'\n"
            'NAME="OpenWrt"\nVERSION_ID=snapshot\n# comment=1\n')
    env = hwprobe.parse_env_file(text)
    assert env["DISTRIB_ID"] == "OpenWrt"
    assert env["DISTRIB_TARGET"] == "mediatek/filogic"
    assert env["DISTRIB_DESCRIPTION"] == "LiMe 17.06 (17.06 rev.13a91e0\n20170812_2135)"
    assert env["NAME"] == "OpenWrt" and env["VERSION_ID"] == "snapshot"
    assert "# comment" not in env and len(env) == 6


def test_device_tree_compatible_gives_board_first_and_soc_last():
    profile = hwprobe.build_profile({"device-tree/compatible": b"yuncore,ax835\x00mediatek,mt7981\x00",
                                     "tmp/sysinfo/model": "YunCore AX835\n"})
    assert profile.board_name == "yuncore,ax835"
    assert profile.model == "YunCore AX835"
    assert profile.soc == "mt7981" and profile.soc_source == "device-tree"


def test_sysinfo_files_win_over_board_json():
    profile = hwprobe.build_profile({
        "tmp/sysinfo/model": "Xiaomi AX3000T\n", "tmp/sysinfo/board_name": "xiaomi,mi-router-ax3000t\n",
        "etc/board.json": '{"model": {"id": "other", "name": "Other"}}'})
    assert profile.model == "Xiaomi AX3000T"
    assert profile.board_name == "xiaomi,mi-router-ax3000t"


def test_soc_falls_back_to_the_openwrt_target():
    profile = hwprobe.build_profile({"etc/openwrt_release": "DISTRIB_TARGET='ramips/mt7621'\n"
                                                            "DISTRIB_ARCH='mipsel_24kc'\n"})
    assert profile.soc == "mt7621" and profile.soc_source == "target"
    assert profile.arch == "mips"
    filogic = hwprobe.build_profile({"etc/openwrt_release": "DISTRIB_TARGET='mediatek/filogic'\n"})
    assert filogic.soc is None   # the target covers MT7981, MT7986 and MT7988


def test_safexcel_capability_mask_decodes_chacha20_and_poly1305_bits():
    line = ("[   16.985100] crypto-safexcel 15600000.crypto: "
            "EIP197:331(7,1,8,4)-HIA:272(2,5,5),PE:151/450(alg:7fe1fc00)/240/240/450\n")
    mask = hwprobe.parse_safexcel_algmask(line)
    assert mask == {"mask": 0x7fe1fc00, "chacha20": False, "poly1305": False}
    with_both = hwprobe.parse_safexcel_algmask(line.replace("7fe1fc00", "7fe1ff00"))
    assert with_both["chacha20"] and with_both["poly1305"]
    assert hwprobe.parse_safexcel_algmask("crypto-safexcel: (alg:zz)") is None


def test_an_empty_system_gives_an_empty_profile_not_an_error():
    profile = hwprobe.build_profile({})
    d = profile.as_dict()
    assert d["model"] is None and d["engines"] == [] and d["cpu_impls"] == {}
    assert d["wireguard_module"] == hwprobe.MODULE_UNKNOWN
    assert d["sources"] == []
