"""crypto/select.py: verification, bounded measurement, the cache, and the decision."""

import json

import pytest

from vpnspot_router.core import hwprobe, offload
from vpnspot_router.crypto import select
from vpnspot_router.crypto.openssl import OpenSSLProvider
from vpnspot_router.crypto.pure import PureProvider


def profile(module=hwprobe.MODULE_ABSENT):
    p = hwprobe.build_profile({"tmp/sysinfo/board_name": "test,board",
                               "kernel_release": "6.6.73"})
    p.wireguard_module = module
    return p


class WrongProvider(OpenSSLProvider):
    """Seals to wrong bytes, as a buggy engine driver might."""

    def aead(self, key32):
        inner = OpenSSLProvider.aead(self, key32)

        class Bad(object):
            def seal(self, counter, plaintext, aad=b""):
                return inner.seal(counter + 1, plaintext, aad)

            def open(self, counter, data, aad=b""):
                return inner.open(counter + 1, data, aad)
        return Bad()


def test_measuring_every_provider_stops_each_size_once_its_slice_of_the_clock_has_passed():
    # The bound is in the measurement's clock, so it holds on any machine:
    # a clock that moves 10 ms per reading, a 25 ms slice -> a start reading
    # and three batches (1 + 2 + 4 seals) per provider and size, no more.
    # How long that takes in real time is the benchmark's to say
    # (tests/bench/bench_crypto_choice.py prints it).
    readings = []

    def clock():
        readings.append(0.01 * (len(readings) + 1))
        return readings[-1]
    found, problems = select.providers()
    results, failed = select.measure(found, seconds=0.025, clock=clock)
    assert set(results) >= {"openssl", "pure"}
    assert len(readings) == 4 * len(results) * len(offload.PACKET_SIZES)
    for name, by_size in results.items():
        assert sorted(by_size) == [64, 512, 1420]
        assert by_size == dict((size, pytest.approx(7 / 0.03)) for size in by_size), name
    assert "afalg" in results or "afalg" in problems or "afalg" in failed


def test_measured_on_the_real_clock_openssl_beats_pure_python_at_every_size():
    # A ratio measured in the same run, not a time limit: OpenSSL's C code
    # is orders of magnitude ahead, so 10x holds on a busy machine too.
    found, problems = select.providers()
    results, failed = select.measure(found)
    assert all(results["openssl"][s] > 10 * results["pure"][s] for s in (64, 512, 1420)), results


def test_a_provider_sealing_wrong_bytes_is_excluded_not_measured():
    results, failed = select.measure({"wrong": WrongProvider(), "openssl": OpenSSLProvider()},
                                     seconds=0.005)
    assert "wrong" not in results and "openssl" in results
    assert failed == {"wrong": "sealed a test packet to different bytes than the reference "
                               "implementation"}


def test_a_provider_raising_is_excluded_with_its_error():
    class Broken(object):
        def aead(self, key32):
            raise OSError(97, "Address family not supported by protocol")
    _, failed = select.measure({"broken": Broken()}, seconds=0.005)
    assert failed["broken"].startswith("failed the correctness check:")


def test_measure_one_uses_the_given_clock():
    ticks = iter([0.0, 0.5, 1.0, 1.5])
    rate = select.measure_one(PureProvider(), 64, 0.9, clock=lambda: next(ticks))
    assert rate == pytest.approx(3 / 1.0)      # 1 + 2 seals by t=1.0


def test_first_choice_measures_and_caches_then_the_cache_answers(tmp_path):
    cache = tmp_path / "sub" / "crypto-choice.json"
    found = {"openssl": OpenSSLProvider(), "pure": PureProvider()}
    first = select.choose(profile(), cache_path=str(cache), found=found, seconds=0.005,
                          version="1.2.3")
    assert first.cached is False and first.provider == "openssl"
    data = json.loads(cache.read_text())
    assert data["key"] == {"board": "test,board", "kernel": "6.6.73", "agent": "1.2.3"}
    assert set(data["measurements"]) == {"openssl", "pure"}
    assert [p.name for p in cache.parent.iterdir()] == ["crypto-choice.json"]  # no temp left

    class Exploding(object):
        def aead(self, key32):
            raise AssertionError("measured although the cache holds a result")
    second = select.choose(profile(), cache_path=str(cache), found={"x": Exploding()},
                           version="1.2.3")
    assert second.cached is True and second.provider == "openssl"
    assert second.measurements == first.measurements


def test_a_new_agent_version_or_kernel_measures_again(tmp_path):
    cache = str(tmp_path / "c.json")
    found = {"pure": PureProvider()}
    select.choose(profile(), cache_path=cache, found=found, seconds=0.002, version="1")
    assert select.choose(profile(), cache_path=cache, found=found, seconds=0.002,
                         version="2").cached is False
    other = profile()
    other.kernel_release = "6.12.0"
    assert select.choose(other, cache_path=cache, found=found, seconds=0.002,
                         version="2").cached is False


def test_no_cache_measures_again_and_a_broken_cache_is_ignored(tmp_path):
    cache = tmp_path / "c.json"
    found = {"pure": PureProvider()}
    select.choose(profile(), cache_path=str(cache), found=found, seconds=0.002, version="1")
    again = select.choose(profile(), cache_path=str(cache), use_cache=False, found=found,
                          seconds=0.002, version="1")
    assert again.cached is False
    for junk in ("{", "[]", '{"format": 1, "key": 5}',
                 json.dumps({"format": 1, "key": select.cache_key(profile(), "1"),
                             "measurements": {"pure": {"64": -5}}})):
        cache.write_text(junk)
        assert select.choose(profile(), cache_path=str(cache), found=found, seconds=0.002,
                             version="1").cached is False
        assert json.loads(cache.read_text())["format"] == 1   # rewritten


def test_an_unknown_override_fails_before_measuring_or_writing(tmp_path):
    cache = tmp_path / "c.json"

    class Exploding(object):
        def aead(self, key32):
            raise AssertionError("measured despite a bad override")
    with pytest.raises(offload.OffloadError, match="not one of"):
        select.choose(profile(), override="fastest", cache_path=str(cache),
                      found={"x": Exploding()})
    assert not cache.exists()


def test_override_and_kernel_module_reach_the_decision(tmp_path):
    found = {"openssl": OpenSSLProvider(), "pure": PureProvider()}
    d = select.choose(profile(hwprobe.MODULE_LOADED), cache_path=None, found=found,
                      seconds=0.002)
    assert d.data_plane == "kernel"
    d = select.choose(profile(hwprobe.MODULE_LOADED), override="pure", cache_path=None,
                      found=found, seconds=0.002)
    assert (d.data_plane, d.provider, d.overridden) == ("userspace", "pure", True)
    assert d.reason.startswith("overridden in configuration")


def test_an_unwritable_cache_is_a_warning_and_the_decision_stands(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    d = select.choose(profile(), cache_path=str(blocker / "c.json"),
                      found={"pure": PureProvider()}, seconds=0.002)
    assert d.provider == "pure"
    assert len(d.warnings) == 1 and d.warnings[0].startswith("could not save the measurement")


def test_afalg_is_reported_unavailable_with_a_reason_when_the_kernel_lacks_it():
    afalg, why = select._load_afalg()
    if afalg is None:
        assert why
    else:
        # The kernel has AF_ALG: the provider must then seal like the reference.
        assert select.verify(afalg, PureProvider()) is None
