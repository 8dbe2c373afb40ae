"""The crypto provider interface the sans-IO core is written against.

The core never imports a crypto library, reads a clock or draws random
numbers itself: everything below comes from one provider object handed to it.
Two providers implement this interface and must agree on every vector:

  vpnspot_router/crypto/openssl.py  OpenSSL via `cryptography` + hashlib (default, fast)
  vpnspot_router/crypto/pure.py     pure Python, MicroPython-compatible (slow, correctness path)

A provider is any object with these methods (duck typed; no abc, so the core
stays MicroPython-portable):

  random_bytes(n) -> bytes
      n cryptographically secure random bytes.

  x25519_public(private32) -> bytes
      The 32-byte public key for a 32-byte private key (RFC 7748; the
      provider clamps).

  x25519(private32, public32) -> bytes
      The 32-byte shared secret. Returns 32 zero bytes for a low-order
      public key instead of raising; the core rejects the all-zero result.

  blake2s(data, digest_size=32, key=b"") -> bytes
      BLAKE2s (RFC 7693), plain hash or keyed MAC (MAC1/MAC2 use 16 bytes).

  hmac_blake2s(key, data) -> bytes
      HMAC (RFC 2104) over BLAKE2s-256, the PRF of WireGuard's HKDF.

  aead(key32) -> cipher
      A ChaCha20-Poly1305 (RFC 8439) cipher bound to key32, reused for a
      whole session. WireGuard's nonce is 4 zero bytes + the 64-bit
      little-endian counter; the cipher builds it:
        cipher.seal(counter, plaintext, aad) -> ciphertext || 16-byte tag
        cipher.open(counter, ciphertext_and_tag, aad) -> plaintext, or None
            when authentication fails (never raises for bad input).

  xaead_seal(key32, nonce24, plaintext, aad) -> bytes
  xaead_open(key32, nonce24, ciphertext_and_tag, aad) -> bytes or None
      XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), used by cookie replies.

Keep this file and both providers in sync.
"""

# Sizes every provider honours; the core checks lengths against them before
# calling in, so a provider may assume well-formed lengths.
KEY_LEN = 32
TAG_LEN = 16
XNONCE_LEN = 24
ZERO32 = b"\x00" * 32


def x25519_clamp(private32):
    """Clamp a 32-byte scalar as RFC 7748 section 5 prescribes."""
    b = bytearray(private32)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return bytes(b)


def generate_private_key(provider):
    """A fresh clamped X25519 private key from the provider's randomness."""
    return x25519_clamp(provider.random_bytes(32))
