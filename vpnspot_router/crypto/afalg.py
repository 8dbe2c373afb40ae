"""The kernel crypto API provider: ChaCha20-Poly1305 through AF_ALG sockets.

Owns: AfAlgProvider, which implements core/cryptoapi.py's aead(key) (and the
arbitrary-nonce and XChaCha20 AEAD entry points) with the kernel's
`rfc7539(chacha20,poly1305)` AEAD, so a router whose crypto engine registers
that algorithm can carry the userspace tunnel's bulk crypto. Everything else
(X25519, BLAKE2s, HMAC, HChaCha20, random) is inherited from the OpenSSL
provider: the kernel API is only worth asking for bulk AEAD, if at all.

How one AEAD operation goes (Documentation/crypto/userspace-if.rst):
  tfm = socket(AF_ALG, SOCK_SEQPACKET); tfm.bind(("aead", NAME))
  setsockopt(SOL_ALG, ALG_SET_KEY, key); setsockopt(SOL_ALG, ALG_SET_AEAD_AUTHSIZE, None, 16)
  op = tfm.accept()                         one per session key, reused per packet
  op.sendmsg_afalg([aad, data], op=..., iv=nonce12, assoclen=len(aad))
  op.recv(...) -> aad || ciphertext || tag  (encrypt)   aad || plaintext (decrypt)
  A bad tag is EBADMSG from recv; like every "no" from the peer it comes
  back as None, never as an exception.

Limits it keeps: a read must ask for exactly the output's length (the
kernel keeps filling a larger buffer from the next request, which never
comes), so a decryption whose output is empty - a keepalive - is answered
by the inherited OpenSSL code; a request must fit the socket's send buffer
(the kernel waits for a reader otherwise, and we are the reader), so inputs
above MAX_REQUEST go to OpenSSL too, which gives identical bytes.
The kernel does the copy and the crypto per packet with two system calls, so
on packet-sized buffers this is usually slower than OpenSSL; the selection
(crypto/select.py) measures before choosing it.

Keep in sync with core/cryptoapi.py and crypto/openssl.py.
"""

import errno
import socket
import struct

from vpnspot_router.availability import Availability
from vpnspot_router.crypto.openssl import OpenSSLProvider, _xnonce, hchacha20

ALG_TYPE = "aead"
ALG_NAME = "rfc7539(chacha20,poly1305)"
TAG_LEN = 16
KEY_LEN = 32
# Largest aad + data sent in one request; a WireGuard packet is at most
# 65535 + 32 bytes. Above this the OpenSSL path answers.
MAX_REQUEST = 64 * 1024 + 256

_wg_nonce = struct.Struct("<4xQ").pack


def _tfm(key32):
    tfm = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    try:
        tfm.bind((ALG_TYPE, ALG_NAME))
        tfm.setsockopt(socket.SOL_ALG, socket.ALG_SET_KEY, key32)
        tfm.setsockopt(socket.SOL_ALG, socket.ALG_SET_AEAD_AUTHSIZE, None, TAG_LEN)
    except BaseException:
        tfm.close()
        raise
    return tfm


def available():
    """Availability: can this kernel run rfc7539(chacha20,poly1305) for us,
    with the same output as OpenSSL on a test message?"""
    if not hasattr(socket, "AF_ALG"):
        return Availability(False, "this Python was built without AF_ALG sockets")
    try:
        probe = socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0)
    except OSError as e:
        return Availability(False, "the kernel has no AF_ALG sockets (%s); it needs "
                            "CONFIG_CRYPTO_USER_API_AEAD" % (e.strerror or e))
    probe.close()
    try:
        cipher = _AfAlgAead(bytes(range(KEY_LEN)))
    except OSError as e:
        if e.errno == errno.ENOENT:
            return Availability(False, "the kernel crypto API has no %s AEAD (algif_aead or "
                                "chacha20poly1305 module missing)" % ALG_NAME)
        return Availability(False, "AF_ALG %s cannot be set up: %s" % (ALG_NAME, e.strerror or e))
    try:
        sample = b"vpnspot AF_ALG self-test" * 3
        expected = OpenSSLProvider().aead(bytes(range(KEY_LEN))).seal(5, sample, b"ad")
        if cipher.seal(5, sample, b"ad") != expected:
            return Availability(False, "the kernel's %s disagrees with OpenSSL on a test "
                                "message; not using it" % ALG_NAME)
    finally:
        cipher.close()
    return Availability(True, "the kernel crypto API serves %s over AF_ALG" % ALG_NAME)


class _AfAlgAead(object):
    """ChaCha20-Poly1305 bound to one key: one AF_ALG operation socket."""

    __slots__ = ("_tfm", "_op", "_key", "_fallback")

    def __init__(self, key32):
        self._key = key32
        self._tfm = _tfm(key32)
        try:
            self._op, _ = self._tfm.accept()
        except BaseException:
            self._tfm.close()
            raise
        self._fallback = None

    def _openssl(self):
        if self._fallback is None:
            from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
            self._fallback = ChaCha20Poly1305(self._key)
        return self._fallback

    def seal_nonce(self, nonce12, plaintext, aad=b""):
        n_aad = len(aad)
        if n_aad + len(plaintext) > MAX_REQUEST:
            return self._openssl().encrypt(nonce12, bytes(plaintext), bytes(aad))
        self._op.sendmsg_afalg([aad, plaintext], op=socket.ALG_OP_ENCRYPT, iv=nonce12,
                               assoclen=n_aad)
        out = self._op.recv(n_aad + len(plaintext) + TAG_LEN)
        return out[n_aad:]

    def open_nonce(self, nonce12, data, aad=b""):
        n_aad = len(aad)
        n = len(data)
        if n < TAG_LEN:
            return None
        if n_aad + n > MAX_REQUEST or n_aad + n == TAG_LEN:
            from cryptography.exceptions import InvalidTag
            try:
                return self._openssl().decrypt(nonce12, bytes(data), bytes(aad))
            except InvalidTag:
                return None
        try:
            self._op.sendmsg_afalg([aad, data], op=socket.ALG_OP_DECRYPT, iv=nonce12,
                                   assoclen=n_aad)
            # Exactly aad + plaintext: the kernel keeps serving a read that
            # has room left and would wait for a next request that never
            # comes. (Hence also the OpenSSL path above for an empty result,
            # e.g. a keepalive: a zero-length read never runs the request.)
            out = self._op.recv(n_aad + n - TAG_LEN)
        except OSError as e:
            # EBADMSG is a bad tag; anything else is input the kernel
            # refused. Both are "does not authenticate" to the caller, but
            # after an unexpected error the operation socket may hold half
            # a request, so it is replaced.
            if e.errno != errno.EBADMSG:
                self._reopen()
            return None
        return out[n_aad:]

    def _reopen(self):
        try:
            self._op.close()
            self._op, _ = self._tfm.accept()
        except OSError:
            pass

    def seal(self, counter, plaintext, aad=b""):
        return self.seal_nonce(_wg_nonce(counter), plaintext, aad)

    def open(self, counter, data, aad=b""):
        return self.open_nonce(_wg_nonce(counter), data, aad)

    def close(self):
        self._op.close()
        self._tfm.close()


class AfAlgProvider(OpenSSLProvider):
    """core/cryptoapi.py with the AEADs on the kernel crypto API.

    Construct only where available() is true; otherwise the first aead()
    raises OSError (the selection never picks it there).
    """

    name = "afalg"

    def aead(self, key32):
        return _AfAlgAead(key32)

    def chacha20_poly1305_seal(self, key32, nonce12, plaintext, aad=b""):
        c = _AfAlgAead(key32)
        try:
            return c.seal_nonce(nonce12, plaintext, aad)
        finally:
            c.close()

    def chacha20_poly1305_open(self, key32, nonce12, data, aad=b""):
        if len(data) < TAG_LEN:
            return None
        c = _AfAlgAead(key32)
        try:
            return c.open_nonce(nonce12, data, aad)
        finally:
            c.close()

    def xaead_seal(self, key32, nonce24, plaintext, aad=b""):
        return self.chacha20_poly1305_seal(hchacha20(key32, nonce24[:16]), _xnonce(nonce24),
                                           plaintext, aad)

    def xaead_open(self, key32, nonce24, data, aad=b""):
        return self.chacha20_poly1305_open(hchacha20(key32, nonce24[:16]), _xnonce(nonce24),
                                           data, aad)
