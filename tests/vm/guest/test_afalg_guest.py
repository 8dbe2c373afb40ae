"""AF_ALG provider behaviour on a kernel that has AF_ALG (runs inside the router VM).

Collected only inside the VM (tests/vm/conftest.py); tests/vm/test_afalg.py
starts it there. The RFC 8439 known-answer vectors run separately, from
tests/crypto with VPNSPOT_TEST_PROVIDERS=afalg. Here: agreement with OpenSSL
(independent code) on random inputs, and the contract's rules for bad input.
"""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from vpnspot_router.crypto import afalg
from vpnspot_router.crypto.openssl import OpenSSLProvider

KEY = bytes(range(0x40, 0x60))


def test_the_kernel_serves_rfc7539_chacha20_poly1305_over_af_alg():
    state = afalg.available()
    assert state, state.reason
    assert "AF_ALG" in state.reason


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), counter=st.integers(0, 2**64 - 1),
       plaintext=st.binary(max_size=1500), aad=st.binary(max_size=64))
def test_session_cipher_seals_exactly_as_openssl_does(key, counter, plaintext, aad):
    ours = afalg.AfAlgProvider().aead(key)
    reference = OpenSSLProvider().aead(key)
    sealed = ours.seal(counter, plaintext, aad)
    assert sealed == reference.seal(counter, plaintext, aad)
    assert ours.open(counter, sealed, aad) == plaintext
    ours.close()


def test_one_session_cipher_carries_many_packets_of_every_size():
    ours = afalg.AfAlgProvider().aead(KEY)
    reference = OpenSSLProvider().aead(KEY)
    for counter, size in enumerate([0, 1, 15, 16, 17, 63, 64, 65, 511, 512, 1419, 1420, 1500, 9000]):
        data = os.urandom(size)
        sealed = reference.seal(counter, data, b"")
        assert ours.seal(counter, data, b"") == sealed
        assert ours.open(counter, sealed, b"") == data


def test_open_returns_none_for_a_flipped_bit_then_keeps_working():
    ours = afalg.AfAlgProvider().aead(KEY)
    sealed = ours.seal(9, b"payload" * 20, b"header")
    for index in (0, len(sealed) - 17, len(sealed) - 16, len(sealed) - 1):
        bad = bytearray(sealed)
        bad[index] ^= 0x10
        assert ours.open(9, bytes(bad), b"header") is None
    assert ours.open(9, sealed, b"other header") is None
    assert ours.open(10, sealed, b"header") is None
    # The socket is still good after EBADMSG.
    assert ours.open(9, sealed, b"header") == b"payload" * 20


def test_open_returns_none_for_input_shorter_than_a_tag():
    ours = afalg.AfAlgProvider().aead(KEY)
    for n in range(16):
        assert ours.open(0, bytes(n), b"") is None


def test_an_empty_message_has_the_same_tag_as_openssl_and_opens_to_empty():
    ours = afalg.AfAlgProvider().aead(KEY)
    tag = ours.seal(3, b"", b"")
    assert tag == OpenSSLProvider().aead(KEY).seal(3, b"", b"")
    assert ours.open(3, tag, b"") == b""


def test_inputs_above_one_request_agree_with_openssl_through_the_fallback():
    data = os.urandom(afalg.MAX_REQUEST + 1000)
    ours = afalg.AfAlgProvider().aead(KEY)
    sealed = ours.seal(1, data, b"")
    assert sealed == OpenSSLProvider().aead(KEY).seal(1, data, b"")
    assert ours.open(1, sealed, b"") == data
