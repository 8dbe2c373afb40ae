"""MAC1, MAC2 and cookie replies: WireGuard's DoS mitigation (whitepaper 5.3, 5.4.4, 5.4.7).

Every handshake message ends in MAC1 (keyed by the receiver's public key: a
cheap proof the sender knows whom it talks to) and MAC2 (keyed by a cookie
the receiver handed out: proof of owning the source address). A responder
under load answers handshake messages lacking a valid MAC2 with a cookie
reply instead of doing any Diffie-Hellman work.

  CookieChecker    one per device, the receiving side: checks MACs, mints cookies
  CookieGenerator  one per peer, the sending side: adds MACs, stores cookies

The cookie binds to the sender's address as the bind reports it; the core
treats addresses as opaque, so it binds to their text form (stable per bind).
"""

from ..cryptoapi import TAG_LEN
from .constants import LABEL_MAC1, LABEL_COOKIE, MAC_SIZE
from .messages import pack_cookie_reply

# wireguard-go stops using a cookie a little before the responder would
# refuse it, so a reply never races the responder's secret rotation.
_COOKIE_USE_MARGIN = 2.0


def equal(a, b):
    """Constant-time comparison (no hmac.compare_digest on MicroPython)."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0


def address_bytes(addr):
    return repr(addr).encode()


class CookieChecker:
    def __init__(self, provider, local_public, timing):
        self.provider = provider
        self.timing = timing
        self.mac1_key = provider.blake2s(LABEL_MAC1 + local_public)
        self.cookie_key = provider.blake2s(LABEL_COOKIE + local_public)
        self.secret = None
        self.secret_born = 0.0

    def check_mac1(self, raw):
        mac1 = self.provider.blake2s(raw[:-32], MAC_SIZE, self.mac1_key)
        return equal(mac1, raw[-32:-16])

    def _cookie(self, addr, now):
        if self.secret is None or now - self.secret_born >= self.timing.cookie_refresh_time:
            self.secret = self.provider.random_bytes(32)
            self.secret_born = now
        return self.provider.blake2s(address_bytes(addr), MAC_SIZE, self.secret)

    def check_mac2(self, raw, addr, now):
        if self.secret is None or now - self.secret_born >= self.timing.cookie_refresh_time:
            return False
        cookie = self.provider.blake2s(address_bytes(addr), MAC_SIZE, self.secret)
        mac2 = self.provider.blake2s(raw[:-16], MAC_SIZE, cookie)
        return equal(mac2, raw[-16:])

    def create_reply(self, raw, sender_index, addr, now):
        """A cookie reply answering the handshake message `raw`."""
        cookie = self._cookie(addr, now)
        nonce = self.provider.random_bytes(24)
        sealed = self.provider.xaead_seal(self.cookie_key, nonce, cookie, raw[-32:-16])
        return pack_cookie_reply(sender_index, nonce, sealed)


class CookieGenerator:
    def __init__(self, provider, remote_public, timing):
        self.provider = provider
        self.timing = timing
        self.mac1_key = provider.blake2s(LABEL_MAC1 + remote_public)
        self.cookie_key = provider.blake2s(LABEL_COOKIE + remote_public)
        self.cookie = None
        self.cookie_born = 0.0
        self.last_mac1 = None

    def add_macs(self, raw, now):
        """Fill MAC1 (and MAC2 when we hold a fresh cookie) into `raw`."""
        body = raw[:-32]
        mac1 = self.provider.blake2s(body, MAC_SIZE, self.mac1_key)
        self.last_mac1 = mac1
        if self.cookie is not None and now - self.cookie_born < self.timing.cookie_refresh_time - _COOKIE_USE_MARGIN:
            mac2 = self.provider.blake2s(body + mac1, MAC_SIZE, self.cookie)
        else:
            mac2 = b"\x00" * MAC_SIZE
        return body + mac1 + mac2

    def consume_reply(self, msg, now):
        """Store the cookie from a reply; False if it answers nothing we sent."""
        if self.last_mac1 is None or len(msg.encrypted_cookie) != MAC_SIZE + TAG_LEN:
            return False
        cookie = self.provider.xaead_open(self.cookie_key, msg.nonce, msg.encrypted_cookie, self.last_mac1)
        if cookie is None:
            return False
        self.cookie = cookie
        self.cookie_born = now
        return True
