"""WireGuard's constants: what the whitepaper fixes, then what we choose.

Spec values come from the WireGuard whitepaper, section 6 ("Timers"), and
the message formats of section 5.4. Implementation values are ours; the
ones that mirror wireguard-go say so, because matching its behaviour keeps
the two ends of a tunnel predictable.
"""

# --- Protocol (whitepaper section 6.1) ---
REKEY_AFTER_MESSAGES = 1 << 60
REJECT_AFTER_MESSAGES = (1 << 64) - (1 << 13) - 1
REKEY_AFTER_TIME = 120.0
REJECT_AFTER_TIME = 180.0
REKEY_ATTEMPT_TIME = 90.0
REKEY_TIMEOUT = 5.0
KEEPALIVE_TIMEOUT = 10.0
COOKIE_REFRESH_TIME = 120.0

# Noise: HASH(CONSTRUCTION) and HASH(HASH(CONSTRUCTION) || IDENTIFIER), with
# CONSTRUCTION = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s" and IDENTIFIER the
# protocol's fixed version string (whitepaper 5.4.2). Precomputed, as every
# implementation does; the handshake tests against wireguard-go prove them.
INITIAL_CHAIN_KEY = bytes.fromhex("60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36")
INITIAL_HASH = bytes.fromhex("2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3")
LABEL_MAC1 = b"mac1----"
LABEL_COOKIE = b"cookie--"

# --- Message formats (whitepaper 5.4) ---
MSG_INITIATION = 1
MSG_RESPONSE = 2
MSG_COOKIE_REPLY = 3
MSG_TRANSPORT = 4
INITIATION_SIZE = 148
RESPONSE_SIZE = 92
COOKIE_REPLY_SIZE = 64
TRANSPORT_HEADER_SIZE = 16
TAG_SIZE = 16
TRANSPORT_MIN_SIZE = TRANSPORT_HEADER_SIZE + TAG_SIZE   # a keepalive
MAC_SIZE = 16
PADDING_MULTIPLE = 16
# Largest datagram we accept: a maximal IPv6 jumbo-less packet plus overhead.
MAX_DATAGRAM_SIZE = 65535 + TRANSPORT_MIN_SIZE

# --- Implementation choices ---
REKEY_TIMEOUT_JITTER_MAX = 1.0 / 3          # wireguard-go: up to 333 ms
MAX_TIMER_HANDSHAKES = int(REKEY_ATTEMPT_TIME / REKEY_TIMEOUT)  # 18 tries
HANDSHAKE_INITIATION_RATE = 1.0 / 50        # wireguard-go: at most 50 initiations/s per peer
STAGED_PACKETS_MAX = 128                    # packets waiting for a handshake, per peer
REPLAY_WINDOW_SIZE = 8192 - 64              # wireguard-go's RFC 6479 ring: 127 blocks of 64 bits
UNDER_LOAD_THRESHOLD = 64                   # handshake messages per second before cookies are demanded
UNDER_LOAD_HOLD = 1.0                       # stay under load this long after the rate drops
DEFAULT_MTU = 1420
