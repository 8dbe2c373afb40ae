"""The OpenSSL crypto provider: core/cryptoapi.py on `cryptography` and hashlib.

Owns: OpenSSLProvider, the default provider wherever `cryptography` imports.
X25519 and ChaCha20-Poly1305 come from `cryptography` (OpenSSL), BLAKE2s
from CPython's own C code (_blake2, which hashlib re-exports) and HMAC-BLAKE2s
is RFC 2104 written out here. Not `import hashlib`/`hmac`: they load the
system's libcrypto through _hashlib (3.5 MB of RSS on the test machine,
whose `cryptography` carries its own OpenSSL) for nothing we use.

The aead() cipher is the userspace data path's per-packet cost, so it keeps
one ChaCha20Poly1305 object per session key and builds WireGuard's nonce (4
zero bytes + 64-bit little-endian counter) with a precompiled struct. Every
"no" from the peer's side - bad tag, short input, low-order point - comes back
as a value (None or 32 zero bytes), never as an exception, because the core
treats peer input that way.

CPython only (it imports `cryptography`); pure.py is the MicroPython twin.
Keep both in sync with core/cryptoapi.py.
"""

import os
import struct

try:
    from _blake2 import blake2s as _blake2s
except ImportError:         # an interpreter without the module: hashlib has it
    from hashlib import blake2s as _blake2s

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import poly1305 as _poly1305
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from vpnspot_router.core.cryptoapi import ZERO32

# HMAC's inner and outer pads (RFC 2104) as translate() tables.
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_BLOCK = 64                 # BLAKE2s's block size

# struct.pack("<4xQ", counter), compiled once: WireGuard's 12-byte nonce.
_wg_nonce = struct.Struct("<4xQ").pack
_words16 = struct.Struct("<16I").unpack
_words4 = struct.Struct("<4I").unpack
_pack8 = struct.Struct("<8I").pack

# RFC 8439 section 2.3: "expand 32-byte k".
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)
_M32 = 0xFFFFFFFF
_ZERO64 = b"\x00" * 64
_TAG_LEN = 16


def hchacha20(key32, nonce16):
    """HChaCha20 (draft-irtf-cfrg-xchacha-03 section 2.2) from OpenSSL's ChaCha20.

    OpenSSL's ChaCha20 takes a 16-byte IV that fills state words 12-15 (block
    counter + nonce), which is exactly where HChaCha20 puts its 16-byte input.
    Keystream block 0 is then rounds(state) + state word by word; HChaCha20
    wants rounds(state) words 0-3 and 12-15, so subtract the known initial
    words (the constants and the input) mod 2^32.
    """
    block = Cipher(algorithms.ChaCha20(key32, nonce16), mode=None).encryptor().update(_ZERO64)
    w = _words16(block)
    n = _words4(nonce16)
    return _pack8(
        (w[0] - _SIGMA[0]) & _M32, (w[1] - _SIGMA[1]) & _M32,
        (w[2] - _SIGMA[2]) & _M32, (w[3] - _SIGMA[3]) & _M32,
        (w[12] - n[0]) & _M32, (w[13] - n[1]) & _M32,
        (w[14] - n[2]) & _M32, (w[15] - n[3]) & _M32)


def _xnonce(nonce24):
    # draft-irtf-cfrg-xchacha-03 section 2.3: 4 zero bytes + the last 8 nonce bytes.
    return b"\x00\x00\x00\x00" + nonce24[16:24]


class _OpenSSLAead(object):
    """ChaCha20-Poly1305 bound to one session key (see core/cryptoapi.py)."""

    __slots__ = ("_cipher",)

    def __init__(self, key32):
        self._cipher = ChaCha20Poly1305(key32)

    def seal(self, counter, plaintext, aad=b""):
        return self._cipher.encrypt(_wg_nonce(counter), plaintext, aad)

    def open(self, counter, data, aad=b""):
        if len(data) < _TAG_LEN:
            return None
        try:
            return self._cipher.decrypt(_wg_nonce(counter), data, aad)
        except InvalidTag:
            return None


class OpenSSLProvider(object):
    """The core/cryptoapi.py contract on OpenSSL; the production provider.

    Beyond the contract, chacha20/poly1305/hchacha20/chacha20_poly1305_seal/
    chacha20_poly1305_open expose the primitives with arbitrary nonces so the
    RFC known-answer vectors can reach them; PureProvider has the same.
    """

    name = "openssl"

    def __init__(self, random_source=None):
        self._random = random_source if random_source is not None else os.urandom

    def random_bytes(self, n):
        return self._random(n)

    def x25519_public(self, private32):
        return X25519PrivateKey.from_private_bytes(private32).public_key().public_bytes_raw()

    def x25519(self, private32, public32):
        try:
            return X25519PrivateKey.from_private_bytes(private32).exchange(
                X25519PublicKey.from_public_bytes(public32))
        except ValueError:
            # OpenSSL refuses an all-zero shared secret (a low-order point);
            # the contract reports it as zeros and lets the core reject it.
            return ZERO32

    def blake2s(self, data, digest_size=32, key=b""):
        return _blake2s(data, digest_size=digest_size, key=key).digest()

    def hmac_blake2s(self, key, data):
        key = bytes(key)
        if len(key) > _BLOCK:
            key = _blake2s(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        inner = _blake2s(key.translate(_IPAD))
        inner.update(data)
        return _blake2s(key.translate(_OPAD) + inner.digest()).digest()

    def aead(self, key32):
        return _OpenSSLAead(key32)

    def xaead_seal(self, key32, nonce24, plaintext, aad=b""):
        return ChaCha20Poly1305(hchacha20(key32, nonce24[:16])).encrypt(
            _xnonce(nonce24), plaintext, aad)

    def xaead_open(self, key32, nonce24, data, aad=b""):
        if len(data) < _TAG_LEN:
            return None
        try:
            return ChaCha20Poly1305(hchacha20(key32, nonce24[:16])).decrypt(
                _xnonce(nonce24), data, aad)
        except InvalidTag:
            return None

    # Primitives outside the core contract (known-answer tests, cross-checks).

    def chacha20(self, key32, counter, nonce12, data):
        # OpenSSL's 16-byte ChaCha20 IV is the 32-bit LE block counter + nonce.
        iv = struct.pack("<I", counter) + nonce12
        return Cipher(algorithms.ChaCha20(key32, iv), mode=None).encryptor().update(data)

    def poly1305(self, key32, data):
        return _poly1305.Poly1305.generate_tag(key32, data)

    def hchacha20(self, key32, nonce16):
        return hchacha20(key32, nonce16)

    def chacha20_poly1305_seal(self, key32, nonce12, plaintext, aad=b""):
        return ChaCha20Poly1305(key32).encrypt(nonce12, plaintext, aad)

    def chacha20_poly1305_open(self, key32, nonce12, data, aad=b""):
        if len(data) < _TAG_LEN:
            return None
        try:
            return ChaCha20Poly1305(key32).decrypt(nonce12, data, aad)
        except InvalidTag:
            return None
