"""Contract behaviour of both providers, and agreement between them.

core/cryptoapi.py promises that bad peer input comes back as a value (None,
or 32 zero bytes), never as an exception; these tests hold both providers to
it. The agreement tests draw random inputs and require the OpenSSL provider
and the pure one (independent code) to give identical bytes; example counts
stay small because the pure provider is slow.
"""

import builtins
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpnspot_router.core.cryptoapi import ZERO32, generate_private_key
from vpnspot_router.crypto import default_provider
from vpnspot_router.crypto.openssl import OpenSSLProvider
from vpnspot_router.crypto.pure import PureProvider

from .providers import unhex

KEY = bytes(range(0x20, 0x40))
NONCE24 = bytes(range(24))

# The seven X25519 u-coordinates that are low-order points or their
# non-canonical encodings (0, 1, the two points of order 8, p-1, p, p+1), as
# listed in "Which public keys should be rejected?" (cr.yp.to/ecdh.html) and
# libsodium's X25519 blocklist. A clamped scalar sends each to u = 0.
LOW_ORDER_POINTS = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]


def _flip(data, index, bit=0):
    changed = bytearray(data)
    changed[index] ^= 1 << bit
    return bytes(changed)


# --- authentication failures are None ----------------------------------------

@pytest.mark.parametrize("where", ["first ciphertext byte", "last ciphertext byte",
                                   "first tag byte", "last tag byte"])
def test_session_cipher_open_returns_none_when_one_bit_is_flipped(provider, where):
    cipher = provider.aead(KEY)
    sealed = cipher.seal(7, b"a packet of some length" * 3, b"")
    index = {"first ciphertext byte": 0, "last ciphertext byte": len(sealed) - 17,
             "first tag byte": len(sealed) - 16, "last tag byte": len(sealed) - 1}[where]
    assert cipher.open(7, sealed, b"") is not None
    assert cipher.open(7, _flip(sealed, index, bit=5), b"") is None


def test_session_cipher_open_returns_none_for_a_different_counter_or_aad(provider):
    cipher = provider.aead(KEY)
    sealed = cipher.seal(1000, b"payload", b"header")
    assert cipher.open(1000, sealed, b"header") == b"payload"
    assert cipher.open(1001, sealed, b"header") is None
    assert cipher.open(1000, sealed, b"headex") is None


def test_session_cipher_open_returns_none_for_input_shorter_than_a_tag(provider):
    cipher = provider.aead(KEY)
    for length in range(16):
        assert cipher.open(0, bytes(length), b"") is None


def test_session_cipher_seals_an_empty_packet_as_a_bare_tag(provider):
    # WireGuard's keepalive is an empty plaintext: 16 bytes on the wire.
    cipher = provider.aead(KEY)
    sealed = cipher.seal(3, b"", b"")
    assert len(sealed) == 16
    assert cipher.open(3, sealed, b"") == b""


def test_session_cipher_accepts_the_largest_64_bit_counter(provider):
    cipher = provider.aead(KEY)
    counter = (1 << 64) - 1
    assert cipher.open(counter, cipher.seal(counter, b"x", b""), b"") == b"x"


def test_xaead_open_returns_none_when_one_bit_is_flipped(provider):
    sealed = provider.xaead_seal(KEY, NONCE24, b"cookie value 16b", b"mac1 of the message")
    assert provider.xaead_open(KEY, NONCE24, sealed, b"mac1 of the message") == b"cookie value 16b"
    for index in (0, len(sealed) - 1):
        assert provider.xaead_open(KEY, NONCE24, _flip(sealed, index), b"mac1 of the message") is None
    assert provider.xaead_open(KEY, _flip(NONCE24, 20), sealed, b"mac1 of the message") is None
    assert provider.xaead_open(KEY, NONCE24, sealed, b"another mac1") is None


def test_xaead_open_returns_none_for_input_shorter_than_a_tag(provider):
    for length in range(16):
        assert provider.xaead_open(KEY, NONCE24, bytes(length), b"") is None


# --- X25519 edge cases --------------------------------------------------------

@pytest.mark.parametrize("point", LOW_ORDER_POINTS)
def test_x25519_with_a_low_order_point_returns_32_zero_bytes(provider, point):
    private = unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    assert provider.x25519(private, unhex(point)) == ZERO32


def test_x25519_public_equals_x25519_with_the_base_point(provider):
    private = generate_private_key(provider)
    assert provider.x25519_public(private) == provider.x25519(private, b"\x09" + bytes(31))


# --- randomness and provider choice -------------------------------------------

def test_random_bytes_returns_the_requested_number_of_fresh_bytes(provider):
    first = provider.random_bytes(32)
    assert len(first) == 32
    assert provider.random_bytes(32) != first
    assert provider.random_bytes(0) == b""


def test_pure_provider_draws_from_the_random_source_it_is_given():
    calls = []

    def source(n):
        calls.append(n)
        return b"\xab" * n

    provider = PureProvider(source)
    assert provider.random_bytes(5) == b"\xab" * 5
    assert calls == [5]


def test_pure_provider_without_a_random_source_says_how_to_supply_one(monkeypatch):
    monkeypatch.setattr("vpnspot_router.crypto.pure._default_random_source", lambda: None)
    with pytest.raises(RuntimeError, match="random_source"):
        PureProvider().random_bytes(32)


def test_default_provider_is_openssl_when_cryptography_imports():
    assert isinstance(default_provider(), OpenSSLProvider)


def test_default_provider_falls_back_to_pure_python_without_cryptography(monkeypatch):
    real_import = builtins.__import__

    def no_cryptography(name, *args, **kwargs):
        if name == "cryptography" or name.startswith("cryptography."):
            raise ImportError("No module named 'cryptography' (simulated)")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "vpnspot_router.crypto.openssl", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_cryptography)
    assert isinstance(default_provider(), PureProvider)


# --- the two providers agree on random inputs --------------------------------

OPENSSL = OpenSSLProvider()
PURE = PureProvider()

# Hypothesis' default deadline would flake on the slow pure provider.
agreement = settings(max_examples=25, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])
keys = st.binary(min_size=32, max_size=32)
packets = st.binary(max_size=1500)
aads = st.binary(max_size=80)
counters = st.integers(min_value=0, max_value=(1 << 64) - 1)


@agreement
@given(key=keys, counter=counters, plaintext=packets, aad=aads)
def test_providers_seal_identically_and_open_each_others_packets(key, counter, plaintext, aad):
    sealed = OPENSSL.aead(key).seal(counter, plaintext, aad)
    assert PURE.aead(key).seal(counter, plaintext, aad) == sealed
    assert PURE.aead(key).open(counter, sealed, aad) == plaintext
    assert OPENSSL.aead(key).open(counter, sealed, aad) == plaintext


@agreement
@given(key=keys, counter=counters, sealed=st.binary(max_size=100), aad=aads)
def test_providers_both_reject_random_ciphertexts(key, counter, sealed, aad):
    assert OPENSSL.aead(key).open(counter, sealed, aad) is None
    assert PURE.aead(key).open(counter, sealed, aad) is None


@agreement
@given(key=keys, nonce=st.binary(min_size=24, max_size=24), plaintext=packets, aad=aads)
def test_providers_agree_on_xchacha20_poly1305(key, nonce, plaintext, aad):
    sealed = OPENSSL.xaead_seal(key, nonce, plaintext, aad)
    assert PURE.xaead_seal(key, nonce, plaintext, aad) == sealed
    assert PURE.xaead_open(key, nonce, sealed, aad) == plaintext


@agreement
@given(key=keys, nonce=st.binary(min_size=16, max_size=16))
def test_openssl_hchacha20_shortcut_agrees_with_the_pure_rounds(key, nonce):
    # The OpenSSL provider derives HChaCha20 from a ChaCha20 keystream block
    # by subtracting the initial state; the pure one runs the rounds directly.
    assert OPENSSL.hchacha20(key, nonce) == PURE.hchacha20(key, nonce)


@agreement
@given(key=keys, nonce=st.binary(min_size=12, max_size=12),
       counter=st.integers(min_value=0, max_value=(1 << 32) - 64), data=packets)
def test_providers_agree_on_the_chacha20_keystream(key, nonce, counter, data):
    # The counter stays below 2^32 - 64 so the 32-bit block counter never wraps
    # inside the message (RFC 8439 leaves wrapping undefined).
    assert PURE.chacha20(key, counter, nonce, data) == OPENSSL.chacha20(key, counter, nonce, data)


@agreement
@given(key=keys, data=st.binary(max_size=600))
def test_providers_agree_on_poly1305(key, data):
    assert PURE.poly1305(key, data) == OPENSSL.poly1305(key, data)


@agreement
@given(data=st.binary(max_size=300), digest_size=st.integers(1, 32),
       key=st.binary(max_size=32))
def test_providers_agree_on_blake2s(data, digest_size, key):
    assert PURE.blake2s(data, digest_size, key) == OPENSSL.blake2s(data, digest_size, key)


@agreement
@given(key=st.binary(max_size=100), data=st.binary(max_size=300))
def test_providers_agree_on_hmac_blake2s(key, data):
    assert PURE.hmac_blake2s(key, data) == OPENSSL.hmac_blake2s(key, data)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(private=keys, public=keys)
def test_providers_agree_on_x25519_for_any_32_bytes(private, public):
    # Arbitrary public bytes include non-canonical u (>= p, top bit set).
    assert PURE.x25519(private, public) == OPENSSL.x25519(private, public)
    assert PURE.x25519_public(private) == OPENSSL.x25519_public(private)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=keys, b=keys)
def test_two_pure_parties_reach_the_shared_secret_openssl_computes(a, b):
    shared = PURE.x25519(a, PURE.x25519_public(b))
    assert shared == PURE.x25519(b, PURE.x25519_public(a))
    assert shared == OPENSSL.x25519(a, OPENSSL.x25519_public(b))


@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 200])
def test_openssl_hmac_blake2s_equals_the_standard_librarys_hmac(key_length):
    import hashlib
    import hmac
    key = bytes(range(key_length))
    for data in (b"", b"x", bytes(range(256)) * 9):
        assert OPENSSL.hmac_blake2s(key, data) == hmac.new(key, data, hashlib.blake2s).digest()
        assert OPENSSL.hmac_blake2s(bytearray(key), memoryview(data)) == \
            hmac.new(key, data, hashlib.blake2s).digest()


def test_the_openssl_provider_does_not_load_hashlibs_libcrypto():
    # _hashlib maps the system's libcrypto (3.5 MB of RSS here) for nothing
    # the provider uses; BLAKE2s comes from CPython's own _blake2.
    import subprocess
    code = ("import sys; from vpnspot_router.crypto.openssl import OpenSSLProvider as P; "
            "p = P(); p.hmac_blake2s(b'k', b'd'); p.blake2s(b'd'); "
            "print(sorted(m for m in ('hashlib', '_hashlib', 'hmac') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_lazy_provider_loads_nothing_for_randomness_and_the_real_one_on_first_use():
    from vpnspot_router.crypto import LazyProvider
    made = []

    def factory():
        made.append(1)
        return OPENSSL
    lazy = LazyProvider(factory)
    assert len(lazy.random_bytes(32)) == 32 and not lazy.loaded and made == []
    assert lazy.x25519_public(KEY) == OPENSSL.x25519_public(KEY)
    assert lazy.loaded and made == [1] and lazy.load() is OPENSSL


def test_the_agents_public_key_of_an_unloaded_lazy_provider_is_computed_in_a_child():
    # Kernel mode: the agent itself never loads the crypto library.
    from vpnspot_router import driver
    from vpnspot_router.crypto import LazyProvider
    lazy = LazyProvider(OpenSSLProvider)
    assert driver.public_key(lazy, KEY) == OPENSSL.x25519_public(KEY)
    assert not lazy.loaded
