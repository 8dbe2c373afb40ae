"""The one flat list of reasons the core discards input.

Peer input never raises out of the core: it is length/type checked, parsed,
dispatched, and anything wrong becomes Drop(reason). The driver counts drops
per reason; `vpnspot status` shows the counters by name.
"""

TOO_SHORT = 1            # shorter than the smallest message of its type
WRONG_SIZE = 2           # handshake/cookie message of the wrong exact length
UNKNOWN_TYPE = 3         # first byte not 1..4 or reserved bytes non-zero
BAD_MAC1 = 4             # MAC1 does not match our public key
BAD_MAC2 = 5             # under load and MAC2 missing or invalid: answered with a cookie
HANDSHAKE_DECRYPT = 6    # Noise AEAD or DH failed: not for us, or forged
UNKNOWN_PEER = 7         # static key of an initiation is not a configured peer
REPLAYED_HANDSHAKE = 8   # initiation timestamp not newer than the last one seen
HANDSHAKE_FLOOD = 9      # initiations from a peer faster than allowed
UNKNOWN_INDEX = 10       # receiver index names no session or handshake of ours
DECRYPT_FAILED = 11      # transport data failed authentication
REPLAYED = 12            # counter outside the window or already seen
SESSION_EXPIRED = 13     # key older than REJECT_AFTER_TIME or counter exhausted
NOT_IP = 14              # decrypted payload is not a well-formed IPv4/IPv6 packet
DISALLOWED_SOURCE = 15   # inner source address not in the sending peer's allowed IPs
NO_ROUTE = 16            # outgoing packet's destination matches no peer's allowed IPs
QUEUE_FULL = 17          # staged packets waiting for a handshake exceeded the bound
BAD_COOKIE = 18          # cookie reply failed to decrypt or answered nothing we sent
NO_ENDPOINT = 19         # peer has no known endpoint yet: cannot send
OVERSIZED = 20           # datagram or packet larger than the protocol allows

_NAMES = {
    TOO_SHORT: "too-short", WRONG_SIZE: "wrong-size", UNKNOWN_TYPE: "unknown-type",
    BAD_MAC1: "bad-mac1", BAD_MAC2: "bad-mac2", HANDSHAKE_DECRYPT: "handshake-decrypt",
    UNKNOWN_PEER: "unknown-peer", REPLAYED_HANDSHAKE: "replayed-handshake",
    HANDSHAKE_FLOOD: "handshake-flood", UNKNOWN_INDEX: "unknown-index",
    DECRYPT_FAILED: "decrypt-failed", REPLAYED: "replayed", SESSION_EXPIRED: "session-expired",
    NOT_IP: "not-ip", DISALLOWED_SOURCE: "disallowed-source", NO_ROUTE: "no-route",
    QUEUE_FULL: "queue-full", BAD_COOKIE: "bad-cookie", NO_ENDPOINT: "no-endpoint",
    OVERSIZED: "oversized",
}


def name(reason):
    return _NAMES.get(reason, "reason-%d" % reason)


def all_reasons():
    return sorted(_NAMES)
