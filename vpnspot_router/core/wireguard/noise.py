"""Noise_IKpsk2 as WireGuard uses it (whitepaper 5.4.2-5.4.5).

Owns the handshake arithmetic only: chaining key and hash updates, the DH
and AEAD steps, and the final split into transport keys. It knows nothing of
peers tables, timers or sockets; device.py calls in with the static keys it
found and gets back the values to keep. Every function that touches peer
input returns an int reason from drops.py instead of raising.

Initiator                                   Responder
  create_initiation -> msg ----------------->  consume_initiation
  consume_response  <----------------- msg <-  create_response
  split(initiator=True)                        split(initiator=False)

WireGuard is Noise_IKpsk2 with the identifier string as prologue, a TAI64N
timestamp as the first payload and an empty second payload. The keyword
arguments initial_chain_key / initial_hash (the state after Noise's
InitializeSymmetric and MixHash(prologue)), payload and ephemeral_private
exist so known-answer tests can run the same code on published generic
Noise_IKpsk2 vectors; their defaults are WireGuard's and device.py never
passes them.
"""

import struct

from . import drops
from .constants import INITIAL_CHAIN_KEY, INITIAL_HASH
from .messages import pack_initiation, pack_response
from ..cryptoapi import ZERO32, generate_private_key

# Handshake states (a peer's handshake slot is in exactly one).
ZEROED = 0
INITIATION_CREATED = 1
INITIATION_CONSUMED = 2
RESPONSE_CREATED = 3
RESPONSE_CONSUMED = 4

TAI64_BASE = (1 << 62) + 10      # TAI64 label for 1970 plus the 10 s TAI-UTC offset wireguard-go uses
# wireguard-go rounds the nanoseconds down to ~16.8 ms so the timestamp does
# not leak fine-grained clock readings; we do the same.
_TIMESTAMP_WHITENER = 0x1000000 - 1


def tai64n(wall_seconds):
    secs = int(wall_seconds)
    nanos = int((wall_seconds - secs) * 1000000000) & ~_TIMESTAMP_WHITENER
    return struct.pack(">QI", TAI64_BASE + secs, nanos & 0xFFFFFFFF)


class Handshake:
    """One peer's handshake in progress. Secrets never print."""

    def __init__(self):
        self.state = ZEROED
        self.hash = None
        self.chaining_key = None
        self.local_ephemeral = None
        self.remote_ephemeral = None
        self.local_index = 0
        self.remote_index = 0

    def clear(self):
        self.__init__()

    def __repr__(self):
        return "Handshake(state=%d, <redacted>)" % self.state


def kdf(provider, key, data, n):
    """HKDF over HMAC-BLAKE2s returning n (1..3) 32-byte outputs."""
    prk = provider.hmac_blake2s(key, data)
    out = []
    prev = b""
    for i in range(1, n + 1):
        prev = provider.hmac_blake2s(prk, prev + bytes((i,)))
        out.append(prev)
    return out


def _mix_hash(provider, h, data):
    return provider.blake2s(h + data)


def initial_hash_for(provider, responder_public, initial_hash=INITIAL_HASH):
    """H after mixing the responder's static key: identical for every
    handshake with that responder, so callers cache it."""
    return _mix_hash(provider, initial_hash, responder_public)


def create_initiation(provider, hs, local_private, local_public, remote_public, static_static,
                      timestamp, sender_index, initial_chain_key=INITIAL_CHAIN_KEY,
                      initial_hash=INITIAL_HASH, ephemeral_private=None):
    """Fill `hs` and return the initiation bytes (MACs zero).

    static_static is the cached DH(local static, remote static); a zero
    result (low-order peer key) was refused when the peer was added.
    timestamp is the encrypted payload: the 12-byte TAI64N for WireGuard.
    ephemeral_private None draws a fresh key; only tests fix it.
    """
    h = initial_hash_for(provider, remote_public, initial_hash)
    ck = initial_chain_key
    e_priv = ephemeral_private
    if e_priv is None:
        e_priv = generate_private_key(provider)
    e_pub = provider.x25519_public(e_priv)
    ck = kdf(provider, ck, e_pub, 1)[0]
    h = _mix_hash(provider, h, e_pub)
    ck, key = kdf(provider, ck, provider.x25519(e_priv, remote_public), 2)
    enc_static = provider.aead(key).seal(0, local_public, h)
    h = _mix_hash(provider, h, enc_static)
    ck, key = kdf(provider, ck, static_static, 2)
    enc_time = provider.aead(key).seal(0, timestamp, h)
    h = _mix_hash(provider, h, enc_time)
    hs.state = INITIATION_CREATED
    hs.hash = h
    hs.chaining_key = ck
    hs.local_ephemeral = e_priv
    hs.local_index = sender_index
    return pack_initiation(sender_index, e_pub, enc_static, enc_time)


class ConsumedInitiation:
    """What the responder learns from a valid initiation, before it knows
    whether the sender is a configured peer."""

    def __init__(self, remote_static, timestamp, h, ck, remote_ephemeral, remote_index):
        self.remote_static = remote_static
        self.timestamp = timestamp
        self.hash = h
        self.chaining_key = ck
        self.remote_ephemeral = remote_ephemeral
        self.remote_index = remote_index


def consume_initiation(provider, local_private, local_initial_hash, msg, static_static_for,
                       initial_chain_key=INITIAL_CHAIN_KEY):
    """Decrypt an initiation addressed to us.

    local_initial_hash is initial_hash_for(our public key), cached by the
    caller. static_static_for(remote_static) returns the cached DH with that
    peer or None if the key is not a configured peer. Returns
    ConsumedInitiation (its timestamp is the decrypted payload) or a drop
    reason.
    """
    e_pub = msg.ephemeral
    h = _mix_hash(provider, local_initial_hash, e_pub)
    ck = kdf(provider, initial_chain_key, e_pub, 1)[0]
    shared = provider.x25519(local_private, e_pub)
    if shared == ZERO32:
        return drops.HANDSHAKE_DECRYPT
    ck, key = kdf(provider, ck, shared, 2)
    remote_static = provider.aead(key).open(0, msg.encrypted_static, h)
    if remote_static is None:
        return drops.HANDSHAKE_DECRYPT
    h = _mix_hash(provider, h, msg.encrypted_static)
    static_static = static_static_for(remote_static)
    if static_static is None:
        return drops.UNKNOWN_PEER
    ck, key = kdf(provider, ck, static_static, 2)
    timestamp = provider.aead(key).open(0, msg.encrypted_timestamp, h)
    if timestamp is None:
        return drops.HANDSHAKE_DECRYPT
    h = _mix_hash(provider, h, msg.encrypted_timestamp)
    return ConsumedInitiation(remote_static, timestamp, h, ck, e_pub, msg.sender)


def create_response(provider, hs, consumed, remote_static, preshared_key, sender_index,
                    payload=b"", ephemeral_private=None):
    """Responder: fill `hs` from a consumed initiation and return the
    response bytes (MACs zero). WireGuard's payload is empty; the
    message format has room for nothing else."""
    h = consumed.hash
    ck = consumed.chaining_key
    e_priv = ephemeral_private
    if e_priv is None:
        e_priv = generate_private_key(provider)
    e_pub = provider.x25519_public(e_priv)
    ck = kdf(provider, ck, e_pub, 1)[0]
    h = _mix_hash(provider, h, e_pub)
    ck = kdf(provider, ck, provider.x25519(e_priv, consumed.remote_ephemeral), 1)[0]
    ck = kdf(provider, ck, provider.x25519(e_priv, remote_static), 1)[0]
    ck, tau, key = kdf(provider, ck, preshared_key or ZERO32, 3)
    h = _mix_hash(provider, h, tau)
    enc_nothing = provider.aead(key).seal(0, payload, h)
    h = _mix_hash(provider, h, enc_nothing)
    hs.state = RESPONSE_CREATED
    hs.hash = h
    hs.chaining_key = ck
    hs.local_ephemeral = None           # no longer needed: forget it early
    hs.remote_ephemeral = consumed.remote_ephemeral
    hs.local_index = sender_index
    hs.remote_index = consumed.remote_index
    return pack_response(sender_index, consumed.remote_index, e_pub, enc_nothing)


def consume_response(provider, hs, local_private, preshared_key, msg):
    """Initiator: check a response against our pending initiation. On
    success `hs` holds the final chaining key; returns None or a reason."""
    if hs.state != INITIATION_CREATED:
        return drops.UNKNOWN_INDEX
    e_pub = msg.ephemeral
    h = _mix_hash(provider, hs.hash, e_pub)
    ck = kdf(provider, hs.chaining_key, e_pub, 1)[0]
    ee = provider.x25519(hs.local_ephemeral, e_pub)
    se = provider.x25519(local_private, e_pub)
    if ee == ZERO32 or se == ZERO32:
        return drops.HANDSHAKE_DECRYPT
    ck = kdf(provider, ck, ee, 1)[0]
    ck = kdf(provider, ck, se, 1)[0]
    ck, tau, key = kdf(provider, ck, preshared_key or ZERO32, 3)
    h = _mix_hash(provider, h, tau)
    if provider.aead(key).open(0, msg.encrypted_nothing, h) is None:
        return drops.HANDSHAKE_DECRYPT
    h = _mix_hash(provider, h, msg.encrypted_nothing)
    hs.state = RESPONSE_CONSUMED
    hs.hash = h
    hs.chaining_key = ck
    hs.local_ephemeral = None
    hs.remote_ephemeral = e_pub
    hs.remote_index = msg.sender
    return None


def split(provider, chaining_key, initiator):
    """Transport keys (send, receive) from the final chaining key."""
    first, second = kdf(provider, chaining_key, b"", 2)
    if initiator:
        return first, second
    return second, first
