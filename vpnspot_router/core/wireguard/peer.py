"""A configured peer: identity, endpoint, sessions, timers and the packets
waiting for a handshake. Behaviour lives in device.py; this is the state it
keeps per peer, so status and tests can read it in one place.
"""

import binascii

from .cookie import CookieGenerator
from .noise import Handshake
from .timers import Timers


class Peer:
    def __init__(self, device, public_key, preshared_key, endpoint, persistent_keepalive, static_static):
        self._device = device
        self.public_key = public_key
        self.preshared_key = preshared_key
        self.endpoint = endpoint
        self.persistent_keepalive = persistent_keepalive
        self.static_static = static_static          # cached DH(our static, their static)
        self.handshake = Handshake()
        self.cookies = CookieGenerator(device.provider, public_key, device.timing)
        self.timers = Timers(device.timing, device._jitter)
        self.current = None
        self.previous = None
        self.next = None
        self.staged = []
        self.last_timestamp = b""                   # newest TAI64N seen in an initiation from them
        self.last_initiation_consumed = None
        self.last_sent_handshake = None
        self.sent_last_minute_handshake = False
        self.last_handshake = None                  # when the newest session was established
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.handshakes_completed = 0

    @property
    def allowed_ips(self):
        return self._device.allowed_ips.prefixes_of(self)

    def __repr__(self):
        return "Peer(%s)" % self.short_id()

    def short_id(self):
        return binascii.b2a_base64(self.public_key).decode().strip()[:8]
