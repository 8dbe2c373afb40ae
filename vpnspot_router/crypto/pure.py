"""The pure-Python crypto provider: the whole core/cryptoapi.py contract, no C.

Owns: BLAKE2s (RFC 7693), HMAC-BLAKE2s (RFC 2104), X25519 (RFC 7748) and the
PureProvider object; ChaCha20, Poly1305 and the AEADs live in chacha_pure.py.

This is the correctness path, not the production path. It exists so that the
sans-IO core (handshake included) runs under MicroPython, and so that tests
have an implementation independent of OpenSSL to compare against. It is slow
and makes no attempt at constant time: the X25519 ladder branches on key bits
and every big-integer operation's timing depends on its operands. Routers with
`cryptography` installed use OpenSSLProvider (see crypto/__init__.py).

Keep it MicroPython-compatible: no dataclasses, typing, functools or
struct.Struct, int.from_bytes(b, "little") positional. MicroPython's hashlib
has only sha256, which is why BLAKE2s is written out here. Keep the provider's
methods in sync with core/cryptoapi.py and with crypto/openssl.py.
"""

import struct

from vpnspot_router.crypto import chacha_pure

# ---------------------------------------------------------------------------
# BLAKE2s (RFC 7693)

# RFC 7693 section 2.6: the SHA-256 initial values.
_B2S_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
           0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)

# RFC 7693 section 2.7: the message schedule, one row per round (10 rounds).
_B2S_SIGMA = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)

# The G mixing function's (a, b, c, d) word positions: four columns, then
# four diagonals (RFC 7693 section 3.2).
_B2S_G = ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15),
          (0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 8, 13), (3, 4, 9, 14))

_M32 = 0xFFFFFFFF
_B2S_BLOCK = 64


def _b2s_compress(h, block, t, last):
    """RFC 7693 section 3.2, function F, updating h in place."""
    m = struct.unpack("<16I", block)
    v = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7],
         _B2S_IV[0], _B2S_IV[1], _B2S_IV[2], _B2S_IV[3],
         _B2S_IV[4] ^ (t & _M32), _B2S_IV[5] ^ ((t >> 32) & _M32),
         _B2S_IV[6] ^ (_M32 if last else 0), _B2S_IV[7]]
    M = _M32
    for s in _B2S_SIGMA:
        i = 0
        for a, b, c, d in _B2S_G:
            x = m[s[i]]
            y = m[s[i + 1]]
            i += 2
            va = (v[a] + v[b] + x) & M
            vd = v[d] ^ va
            vd = (vd >> 16) | ((vd << 16) & M)
            vc = (v[c] + vd) & M
            vb = v[b] ^ vc
            vb = (vb >> 12) | ((vb << 20) & M)
            va = (va + vb + y) & M
            vd ^= va
            vd = (vd >> 8) | ((vd << 24) & M)
            vc = (vc + vd) & M
            vb ^= vc
            vb = (vb >> 7) | ((vb << 25) & M)
            v[a] = va
            v[b] = vb
            v[c] = vc
            v[d] = vd
    for i in range(8):
        h[i] ^= v[i] ^ v[i + 8]


def blake2s(data, digest_size=32, key=b""):
    """BLAKE2s of data: digest_size 1..32 bytes, optional key of 0..32 bytes."""
    if not 1 <= digest_size <= 32:
        raise ValueError("BLAKE2s digest size must be 1..32, not %d" % digest_size)
    if len(key) > 32:
        raise ValueError("BLAKE2s key must be at most 32 bytes, not %d" % len(key))
    h = list(_B2S_IV)
    # Parameter block word 0: digest length, key length, fanout 1, depth 1.
    h[0] ^= 0x01010000 ^ (len(key) << 8) ^ digest_size
    if key:
        # A keyed hash processes the zero-padded key as its own first block.
        data = key + b"\x00" * (_B2S_BLOCK - len(key)) + data
    n = len(data)
    offset = 0
    # Every block but the last is compressed as "not last"; an empty message
    # is one all-zero final block.
    while n - offset > _B2S_BLOCK:
        offset += _B2S_BLOCK
        _b2s_compress(h, data[offset - _B2S_BLOCK:offset], offset, False)
    tail = data[offset:]
    _b2s_compress(h, tail + b"\x00" * (_B2S_BLOCK - len(tail)), n, True)
    return struct.pack("<8I", h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])[:digest_size]


def hmac_blake2s(key, data):
    """HMAC (RFC 2104) with BLAKE2s-256: 64-byte blocks, 32-byte output."""
    if len(key) > _B2S_BLOCK:
        key = blake2s(key)
    key = key + b"\x00" * (_B2S_BLOCK - len(key))
    ipad = bytearray(_B2S_BLOCK)
    opad = bytearray(_B2S_BLOCK)
    for i in range(_B2S_BLOCK):
        ipad[i] = key[i] ^ 0x36
        opad[i] = key[i] ^ 0x5C
    return blake2s(bytes(opad) + blake2s(bytes(ipad) + data))


# ---------------------------------------------------------------------------
# X25519 (RFC 7748)

_P25519 = (1 << 255) - 19
_A24 = 121665  # (486662 - 2) / 4, RFC 7748 section 5
_U_MASK = (1 << 255) - 1  # section 5: the top bit of u is ignored


def _inverse(z):
    """z^(p-2) mod p by square-and-multiply.

    Written out because MicroPython builds may lack three-argument pow();
    z == 0 maps to 0, which is what makes low-order points yield all zeros.
    """
    p = _P25519
    e = p - 2
    result = 1
    base = z % p
    while e:
        if e & 1:
            result = (result * base) % p
        base = (base * base) % p
        e >>= 1
    return result


def x25519(scalar32, u32):
    """X25519(k, u) by the Montgomery ladder of RFC 7748 section 5."""
    b = bytearray(scalar32)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    k = int.from_bytes(bytes(b), "little")
    p = _P25519
    x1 = (int.from_bytes(u32, "little") & _U_MASK) % p
    x2, z2, x3, z3 = 1, 0, x1, 1
    swap = 0
    for t in range(254, -1, -1):
        bit = (k >> t) & 1
        if swap ^ bit:
            x2, x3 = x3, x2
            z2, z3 = z3, z2
        swap = bit
        a = x2 + z2
        aa = (a * a) % p
        bb = x2 - z2
        bbb = (bb * bb) % p
        e = aa - bbb
        c = x3 + z3
        d = x3 - z3
        da = (d * a) % p
        cb = (c * bb) % p
        x3 = ((da + cb) * (da + cb)) % p
        z3 = (x1 * (da - cb) * (da - cb)) % p
        x2 = (aa * bbb) % p
        z2 = (e * (aa + _A24 * e)) % p
    if swap:
        x2, x3 = x3, x2
        z2, z3 = z3, z2
    return ((x2 * _inverse(z2)) % p).to_bytes(32, "little")


_BASEPOINT = b"\x09" + b"\x00" * 31


# ---------------------------------------------------------------------------
# The provider


def _default_random_source():
    # Some MicroPython builds have os.urandom but no entropy behind it (the
    # WASI build raises ENOENT), so probe it once instead of trusting it.
    try:
        import os
        os.urandom(1)
        return os.urandom
    except (ImportError, AttributeError, OSError):
        return None


class _PureAead(object):
    """ChaCha20-Poly1305 bound to one key, with WireGuard's counter nonce."""

    __slots__ = ("_key",)

    def __init__(self, key):
        self._key = bytes(key)

    def seal(self, counter, plaintext, aad=b""):
        return chacha_pure.aead_seal(self._key, struct.pack("<IQ", 0, counter), plaintext, aad)

    def open(self, counter, data, aad=b""):
        if len(data) < 16:
            return None
        return chacha_pure.aead_open(self._key, struct.pack("<IQ", 0, counter), data, aad)


class PureProvider(object):
    """The core/cryptoapi.py contract in pure Python (slow; MicroPython-safe).

    random_source is a callable n -> n secure random bytes. It defaults to
    os.urandom where that exists; on a MicroPython build without it, pass one
    in (for example from the board's hardware RNG).

    Beyond the contract, chacha20/poly1305/hchacha20/chacha20_poly1305_seal/
    chacha20_poly1305_open expose the primitives with arbitrary nonces so the
    RFC known-answer vectors can reach them; OpenSSLProvider has the same.
    """

    name = "pure"

    def __init__(self, random_source=None):
        if random_source is None:
            random_source = _default_random_source()
        self._random = random_source

    def random_bytes(self, n):
        if self._random is None:
            raise RuntimeError(
                "PureProvider has no random source on this platform: "
                "construct it with PureProvider(random_source) where "
                "random_source(n) returns n secure random bytes")
        out = self._random(n)
        if len(out) != n:
            raise RuntimeError("random source returned %d bytes, wanted %d" % (len(out), n))
        return bytes(out)

    def x25519_public(self, private32):
        return x25519(private32, _BASEPOINT)

    def x25519(self, private32, public32):
        return x25519(private32, public32)

    def blake2s(self, data, digest_size=32, key=b""):
        return blake2s(data, digest_size, key)

    def hmac_blake2s(self, key, data):
        return hmac_blake2s(key, data)

    def aead(self, key32):
        return _PureAead(key32)

    def xaead_seal(self, key32, nonce24, plaintext, aad=b""):
        return chacha_pure.xaead_seal(key32, nonce24, plaintext, aad)

    def xaead_open(self, key32, nonce24, data, aad=b""):
        if len(data) < 16:
            return None
        return chacha_pure.xaead_open(key32, nonce24, data, aad)

    # Primitives outside the core contract (known-answer tests, cross-checks).

    def chacha20(self, key32, counter, nonce12, data):
        return chacha_pure.chacha20_xor(key32, counter, nonce12, data)

    def poly1305(self, key32, data):
        return chacha_pure.poly1305(key32, data)

    def hchacha20(self, key32, nonce16):
        return chacha_pure.hchacha20(key32, nonce16)

    def chacha20_poly1305_seal(self, key32, nonce12, plaintext, aad=b""):
        return chacha_pure.aead_seal(key32, nonce12, plaintext, aad)

    def chacha20_poly1305_open(self, key32, nonce12, data, aad=b""):
        return chacha_pure.aead_open(key32, nonce12, data, aad)
