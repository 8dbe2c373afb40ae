"""core/offload.py: the data-plane and provider decision and its reason.

Measurements here are inputs chosen to exercise the rules, not results.
Portable: runs under MicroPython too.
"""

from vpnspot_router.core import hwprobe, offload

SAFEXCEL = ("name : rfc4543(gcm(aes))\ndriver : safexcel-rfc4543-gcm-aes\n"
            "module : crypto_safexcel\npriority : 300\ntype : aead\n")
SAFEXCEL_AEAD = ("name : rfc7539(chacha20,poly1305)\ndriver : safexcel-chacha20-poly1305\n"
                 "module : crypto_safexcel\npriority : 301\ntype : aead\n")
NEON = ("name : poly1305\ndriver : poly1305-neon\nmodule : poly1305_neon\n\n"
        "name : xchacha20\ndriver : xchacha20-neon\nmodule : chacha_neon\n")

FAST_OPENSSL = {"openssl": {64: 900000, 512: 700000, 1420: 500000},
                "pure": {64: 8000, 512: 2000, 1420: 700}}


def profile(crypto=None, cpuinfo=None):
    return hwprobe.build_profile({"proc/crypto": crypto, "proc/cpuinfo": cpuinfo})


def raises(fn, *args):
    try:
        fn(*args)
    except offload.OffloadError as e:
        return str(e)
    raise AssertionError("no OffloadError from %r" % (args,))


def test_kernel_wireguard_wins_when_the_module_is_present_even_with_an_engine():
    d = offload.decide(profile(SAFEXCEL), True, FAST_OPENSSL)
    assert (d.data_plane, d.provider) == ("kernel", "kernel")
    assert d.reason == "engine safexcel present, no ChaCha20-Poly1305 support; using kernel WireGuard"
    assert not d.overridden and d.warnings == []


def test_without_the_module_the_fastest_measured_provider_carries_the_tunnel():
    d = offload.decide(profile(SAFEXCEL), False, FAST_OPENSSL)
    assert (d.data_plane, d.provider) == ("userspace", "openssl")
    assert d.reason.startswith("no kernel WireGuard module; engine safexcel present, "
                               "no ChaCha20-Poly1305 support; using userspace WireGuard with OpenSSL")
    assert "500000 packets/s at 1420 bytes" in d.reason


def test_an_engine_without_rfc7539_is_listed_but_never_a_candidate():
    d = offload.decide(profile(SAFEXCEL), False, FAST_OPENSSL)
    engines = [c for c in d.candidates if c["kind"] == "engine"]
    assert engines == [{"name": "safexcel", "kind": "engine", "eligible": False,
                        "why": "no rfc7539(chacha20,poly1305): WireGuard cannot use it"}]
    with_aead = offload.decide(profile(SAFEXCEL_AEAD), False, FAST_OPENSSL)
    assert [c["eligible"] for c in with_aead.candidates if c["kind"] == "engine"] == [True]


def test_kernel_reason_names_the_cpu_code_and_not_an_engine_when_none_exists():
    d = offload.decide(profile(NEON), True, {})
    assert d.reason == ("kernel WireGuard module present; using kernel WireGuard "
                        "(ChaCha20-Poly1305 on the CPU: xchacha20-neon, poly1305-neon)")
    simd_only = offload.decide(profile(None, "processor : 0\nFeatures : fp asimd aes\n"), True, {})
    assert simd_only.reason.endswith("(ChaCha20-Poly1305 on the CPU's asimd code)")


def test_an_engine_with_the_aead_still_loses_to_kernel_wireguard_and_the_reason_says_why():
    d = offload.decide(profile(SAFEXCEL_AEAD), True, FAST_OPENSSL)
    assert d.data_plane == "kernel"
    assert "registers ChaCha20-Poly1305 (safexcel-chacha20-poly1305), but kernel WireGuard " \
           "never uses crypto engines" in d.reason


def test_small_and_full_size_packets_outweigh_mid_size_ones():
    # afalg is fastest at 512 only; openssl wins at 64 and 1420.
    m = {"openssl": {64: 100, 512: 100, 1420: 100}, "afalg": {64: 60, 512: 300, 1420: 90}}
    d = offload.decide(profile(), False, m)
    assert d.provider == "openssl"
    assert d.scores["openssl"] > d.scores["afalg"]
    # Winning at 1420 by a lot and losing a little at 64 picks the winner at 1420.
    m2 = {"openssl": {64: 100, 512: 100, 1420: 100}, "afalg": {64: 90, 512: 100, 1420: 400}}
    assert offload.decide(profile(), False, m2).provider == "afalg"


def test_equal_speeds_prefer_openssl_then_afalg_then_pure():
    same = {64: 10, 512: 10, 1420: 10}
    d = offload.decide(profile(), False, {"pure": dict(same), "afalg": dict(same)})
    assert d.provider == "afalg"
    d = offload.decide(profile(), False, {"pure": dict(same), "openssl": dict(same),
                                          "afalg": dict(same)})
    assert d.provider == "openssl"


def test_sizes_from_the_json_cache_arrive_as_strings_and_are_accepted():
    d = offload.decide(profile(), False, {"openssl": {"64": 5, "512": 4, "1420": 3}})
    assert d.measurements == {"openssl": {64: 5.0, 512: 4.0, 1420: 3.0}}
    assert d.as_dict()["measurements"] == {"openssl": {"64": 5.0, "512": 4.0, "1420": 3.0}}


def test_no_module_and_nothing_measured_says_the_tunnel_cannot_start():
    d = offload.decide(profile(), False, {})
    assert d.provider is None and d.data_plane == "userspace"
    assert d.reason == ("no kernel WireGuard module; no crypto provider measured, "
                        "so the tunnel cannot start")


def test_an_override_wins_and_the_reason_says_it_was_overridden():
    d = offload.decide(profile(SAFEXCEL), True, FAST_OPENSSL, "pure")
    assert (d.data_plane, d.provider, d.overridden) == ("userspace", "pure", True)
    assert d.reason.startswith("overridden in configuration to userspace WireGuard with "
                               "pure Python (automatic choice: engine safexcel present")
    d = offload.decide(profile(), True, FAST_OPENSSL, " Userspace ")
    assert (d.data_plane, d.provider, d.override) == ("userspace", "openssl", "userspace")


def test_an_unavailable_override_falls_back_with_a_warning():
    d = offload.decide(profile(SAFEXCEL), False, FAST_OPENSSL, "kernel")
    assert (d.data_plane, d.provider, d.overridden) == ("userspace", "openssl", False)
    assert d.warnings == ["crypto override kernel cannot be used: the WireGuard kernel "
                          "module is not on this router"]
    assert d.reason.startswith("override kernel unavailable (the WireGuard kernel module is "
                               "not on this router), falling back: no kernel WireGuard module")
    d = offload.decide(profile(), True, FAST_OPENSSL, "afalg")
    assert d.data_plane == "kernel" and len(d.warnings) == 1
    assert "afalg cannot be used" in d.warnings[0]


def test_auto_and_empty_overrides_are_the_automatic_choice():
    for value in (None, "", "auto", "AUTO"):
        d = offload.decide(profile(), True, FAST_OPENSSL, value)
        assert d.data_plane == "kernel" and d.override is None and not d.overridden


def test_an_unknown_override_is_an_error_naming_the_choices():
    message = raises(offload.decide, profile(), True, FAST_OPENSSL, "openssl3")
    assert message == ("crypto override 'openssl3' is not one of: auto, kernel, userspace, "
                       "openssl, afalg, pure")
    assert "must be a name" in raises(offload.decide, profile(), True, FAST_OPENSSL, 3)


def test_broken_measurements_are_errors_naming_provider_and_size():
    assert "packet size 100" in raises(offload.decide, profile(), False,
                                       {"openssl": {100: 5}})
    assert "openssl at 64 bytes is -1" in raises(offload.decide, profile(), False,
                                                 {"openssl": {64: -1}})
    assert "at 64 bytes is 'fast'" in raises(offload.decide, profile(), False,
                                             {"openssl": {64: "fast"}})
    assert "must map packet size" in raises(offload.decide, profile(), False, {"openssl": 5})
    assert "must be a dict" in raises(offload.decide, profile(), False, [1])


def test_a_provider_that_measured_zero_is_not_chosen():
    d = offload.decide(profile(), False, {"afalg": {64: 0, 512: 0, 1420: 0},
                                          "pure": {64: 1, 512: 1, 1420: 1}})
    assert d.provider == "pure"


def test_the_module_state_comes_from_the_profile_when_not_given():
    p = profile()
    p.wireguard_module = hwprobe.MODULE_AVAILABLE
    assert offload.decide(p, None, FAST_OPENSSL).data_plane == "kernel"
    p.wireguard_module = hwprobe.MODULE_ABSENT
    assert offload.decide(p, None, FAST_OPENSSL).data_plane == "userspace"


def test_as_dict_carries_what_status_pages_show():
    d = offload.decide(profile(SAFEXCEL), True, FAST_OPENSSL).as_dict()
    for key in ("data_plane", "provider", "reason", "override", "overridden", "warnings",
                "measurements", "scores", "candidates", "excluded", "cached"):
        assert key in d
    assert d["provider"] == "kernel"
