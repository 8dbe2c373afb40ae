"""Pure-Python ChaCha20, HChaCha20, Poly1305 and the two AEADs built on them.

Owns: the ChaCha20 block function and stream cipher (RFC 8439 sections 2.3,
2.4), Poly1305 (section 2.5), AEAD_CHACHA20_POLY1305 (section 2.8), and
HChaCha20 / XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha-03 sections 2.2, 2.3).

This is the correctness path: it lets the sans-IO core run under MicroPython
and gives the tests a second, independent implementation to cross-check the
OpenSSL provider against. It is neither fast nor constant-time (Poly1305 uses
Python's arbitrary-precision integers, whose timing depends on the values), so
production data paths use OpenSSL. Keep it MicroPython-compatible: plain
functions, struct.pack/unpack only, int.from_bytes(b, "little") positional.

Callers pass well-formed lengths (32-byte keys, 12/16/24-byte nonces); the
functions do not re-check them.
"""

import struct

# RFC 8439 section 2.3: "expand 32-byte k" as four little-endian words.
SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)
_M32 = 0xFFFFFFFF

# RFC 8439 section 2.5: p = 2^130 - 5 and the clamp on r.
_P1305 = (1 << 130) - 5
_R_CLAMP = 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
_M128 = (1 << 128) - 1

_ZERO16 = b"\x00" * 16


def _rounds(s):
    """The 20 ChaCha rounds over a 16-word state, without the feed-forward.

    Unrolled into locals because a function call per quarter round costs more
    than the arithmetic itself, in CPython and MicroPython alike.
    """
    x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15 = s
    M = _M32
    for _ in range(10):
        # Column round: QR(0,4,8,12) QR(1,5,9,13) QR(2,6,10,14) QR(3,7,11,15)
        x0 = (x0 + x4) & M; x12 ^= x0; x12 = ((x12 << 16) & M) | (x12 >> 16)
        x8 = (x8 + x12) & M; x4 ^= x8; x4 = ((x4 << 12) & M) | (x4 >> 20)
        x0 = (x0 + x4) & M; x12 ^= x0; x12 = ((x12 << 8) & M) | (x12 >> 24)
        x8 = (x8 + x12) & M; x4 ^= x8; x4 = ((x4 << 7) & M) | (x4 >> 25)
        x1 = (x1 + x5) & M; x13 ^= x1; x13 = ((x13 << 16) & M) | (x13 >> 16)
        x9 = (x9 + x13) & M; x5 ^= x9; x5 = ((x5 << 12) & M) | (x5 >> 20)
        x1 = (x1 + x5) & M; x13 ^= x1; x13 = ((x13 << 8) & M) | (x13 >> 24)
        x9 = (x9 + x13) & M; x5 ^= x9; x5 = ((x5 << 7) & M) | (x5 >> 25)
        x2 = (x2 + x6) & M; x14 ^= x2; x14 = ((x14 << 16) & M) | (x14 >> 16)
        x10 = (x10 + x14) & M; x6 ^= x10; x6 = ((x6 << 12) & M) | (x6 >> 20)
        x2 = (x2 + x6) & M; x14 ^= x2; x14 = ((x14 << 8) & M) | (x14 >> 24)
        x10 = (x10 + x14) & M; x6 ^= x10; x6 = ((x6 << 7) & M) | (x6 >> 25)
        x3 = (x3 + x7) & M; x15 ^= x3; x15 = ((x15 << 16) & M) | (x15 >> 16)
        x11 = (x11 + x15) & M; x7 ^= x11; x7 = ((x7 << 12) & M) | (x7 >> 20)
        x3 = (x3 + x7) & M; x15 ^= x3; x15 = ((x15 << 8) & M) | (x15 >> 24)
        x11 = (x11 + x15) & M; x7 ^= x11; x7 = ((x7 << 7) & M) | (x7 >> 25)
        # Diagonal round: QR(0,5,10,15) QR(1,6,11,12) QR(2,7,8,13) QR(3,4,9,14)
        x0 = (x0 + x5) & M; x15 ^= x0; x15 = ((x15 << 16) & M) | (x15 >> 16)
        x10 = (x10 + x15) & M; x5 ^= x10; x5 = ((x5 << 12) & M) | (x5 >> 20)
        x0 = (x0 + x5) & M; x15 ^= x0; x15 = ((x15 << 8) & M) | (x15 >> 24)
        x10 = (x10 + x15) & M; x5 ^= x10; x5 = ((x5 << 7) & M) | (x5 >> 25)
        x1 = (x1 + x6) & M; x12 ^= x1; x12 = ((x12 << 16) & M) | (x12 >> 16)
        x11 = (x11 + x12) & M; x6 ^= x11; x6 = ((x6 << 12) & M) | (x6 >> 20)
        x1 = (x1 + x6) & M; x12 ^= x1; x12 = ((x12 << 8) & M) | (x12 >> 24)
        x11 = (x11 + x12) & M; x6 ^= x11; x6 = ((x6 << 7) & M) | (x6 >> 25)
        x2 = (x2 + x7) & M; x13 ^= x2; x13 = ((x13 << 16) & M) | (x13 >> 16)
        x8 = (x8 + x13) & M; x7 ^= x8; x7 = ((x7 << 12) & M) | (x7 >> 20)
        x2 = (x2 + x7) & M; x13 ^= x2; x13 = ((x13 << 8) & M) | (x13 >> 24)
        x8 = (x8 + x13) & M; x7 ^= x8; x7 = ((x7 << 7) & M) | (x7 >> 25)
        x3 = (x3 + x4) & M; x14 ^= x3; x14 = ((x14 << 16) & M) | (x14 >> 16)
        x9 = (x9 + x14) & M; x4 ^= x9; x4 = ((x4 << 12) & M) | (x4 >> 20)
        x3 = (x3 + x4) & M; x14 ^= x3; x14 = ((x14 << 8) & M) | (x14 >> 24)
        x9 = (x9 + x14) & M; x4 ^= x9; x4 = ((x4 << 7) & M) | (x4 >> 25)
    return (x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15)


def _state(key, counter, nonce12):
    k = struct.unpack("<8I", key)
    n = struct.unpack("<3I", nonce12)
    return [SIGMA[0], SIGMA[1], SIGMA[2], SIGMA[3],
            k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7],
            counter & _M32, n[0], n[1], n[2]]


def chacha20_block(key, counter, nonce12):
    """One 64-byte keystream block (RFC 8439 section 2.3)."""
    s = _state(key, counter, nonce12)
    w = _rounds(s)
    M = _M32
    return struct.pack(
        "<16I",
        (w[0] + s[0]) & M, (w[1] + s[1]) & M, (w[2] + s[2]) & M, (w[3] + s[3]) & M,
        (w[4] + s[4]) & M, (w[5] + s[5]) & M, (w[6] + s[6]) & M, (w[7] + s[7]) & M,
        (w[8] + s[8]) & M, (w[9] + s[9]) & M, (w[10] + s[10]) & M, (w[11] + s[11]) & M,
        (w[12] + s[12]) & M, (w[13] + s[13]) & M, (w[14] + s[14]) & M, (w[15] + s[15]) & M)


def chacha20_xor(key, counter, nonce12, data):
    """ChaCha20 encryption = decryption (RFC 8439 section 2.4)."""
    n = len(data)
    if n == 0:
        return b""
    s = _state(key, counter, nonce12)
    M = _M32
    blocks = []
    for _ in range((n + 63) // 64):
        w = _rounds(s)
        blocks.append(struct.pack(
            "<16I",
            (w[0] + s[0]) & M, (w[1] + s[1]) & M, (w[2] + s[2]) & M, (w[3] + s[3]) & M,
            (w[4] + s[4]) & M, (w[5] + s[5]) & M, (w[6] + s[6]) & M, (w[7] + s[7]) & M,
            (w[8] + s[8]) & M, (w[9] + s[9]) & M, (w[10] + s[10]) & M, (w[11] + s[11]) & M,
            (w[12] + s[12]) & M, (w[13] + s[13]) & M, (w[14] + s[14]) & M, (w[15] + s[15]) & M))
        s[12] = (s[12] + 1) & M
    stream = b"".join(blocks)
    if len(stream) != n:
        stream = stream[:n]
    # One big-integer XOR beats a per-byte loop by an order of magnitude.
    x = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")
    return x.to_bytes(n, "little")


def hchacha20(key, nonce16):
    """HChaCha20 (draft-irtf-cfrg-xchacha-03 section 2.2): a 32-byte subkey.

    The state is the ChaCha20 state with the 16-byte input in words 12-15;
    the output is words 0-3 and 12-15 after the rounds, with no feed-forward.
    """
    k = struct.unpack("<8I", key)
    n = struct.unpack("<4I", nonce16)
    w = _rounds((SIGMA[0], SIGMA[1], SIGMA[2], SIGMA[3],
                 k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7],
                 n[0], n[1], n[2], n[3]))
    return struct.pack("<8I", w[0], w[1], w[2], w[3], w[12], w[13], w[14], w[15])


def poly1305(key, data):
    """The 16-byte Poly1305 tag of data under a one-time 32-byte key (RFC 8439 2.5)."""
    r = int.from_bytes(key[:16], "little") & _R_CLAMP
    s = int.from_bytes(key[16:32], "little")
    p = _P1305
    acc = 0
    n = len(data)
    full = n - (n % 16)
    hibit = 1 << 128
    for i in range(0, full, 16):
        acc = ((acc + (int.from_bytes(data[i:i + 16], "little") | hibit)) * r) % p
    if full != n:
        # The partial last block gets its 0x01 byte right after its last octet.
        acc = ((acc + int.from_bytes(data[full:] + b"\x01", "little")) * r) % p
    return ((acc + s) & _M128).to_bytes(16, "little")


def _pad16(n):
    return _ZERO16[:(16 - n % 16) % 16]


def _aead_tag(key, nonce12, ciphertext, aad):
    otk = chacha20_block(key, 0, nonce12)[:32]
    mac_data = b"".join((aad, _pad16(len(aad)), ciphertext, _pad16(len(ciphertext)),
                         struct.pack("<QQ", len(aad), len(ciphertext))))
    return poly1305(otk, mac_data)


def equal(a, b):
    """Compare two byte strings without stopping at the first difference."""
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def aead_seal(key, nonce12, plaintext, aad):
    """AEAD_CHACHA20_POLY1305 encryption: ciphertext || tag (RFC 8439 2.8)."""
    ciphertext = chacha20_xor(key, 1, nonce12, plaintext)
    return ciphertext + _aead_tag(key, nonce12, ciphertext, aad)


def aead_open(key, nonce12, data, aad):
    """AEAD_CHACHA20_POLY1305 decryption; None when the tag does not verify."""
    if len(data) < 16:
        return None
    ciphertext = data[:-16]
    if not equal(_aead_tag(key, nonce12, ciphertext, aad), data[-16:]):
        return None
    return chacha20_xor(key, 1, nonce12, ciphertext)


def _xnonce(nonce24):
    # draft-irtf-cfrg-xchacha-03 section 2.3: the last 8 nonce bytes behind
    # four zero bytes form the inner ChaCha20-Poly1305 nonce.
    return b"\x00\x00\x00\x00" + nonce24[16:24]


def xaead_seal(key, nonce24, plaintext, aad):
    """XChaCha20-Poly1305 encryption: ciphertext || tag."""
    return aead_seal(hchacha20(key, nonce24[:16]), _xnonce(nonce24), plaintext, aad)


def xaead_open(key, nonce24, data, aad):
    """XChaCha20-Poly1305 decryption; None when the tag does not verify."""
    return aead_open(hchacha20(key, nonce24[:16]), _xnonce(nonce24), data, aad)
