"""WireGuard, sans-IO: bytes, times and events in; actions out.

Module map (one protocol concern each, named after the whitepaper):
  constants.py   spec constants (timers, limits, labels) apart from our own knobs
  messages.py    the four message formats: parse once into a tagged object
  noise.py       Noise_IKpsk2 handshake (initiation, response, key derivation)
  cookie.py      MAC1/MAC2 and cookie replies (the under-load mode)
  replay.py      sliding replay window for transport counters
  allowedips.py  longest-prefix match of addresses to peers
  keypair.py     one session's keys, counters and replay state
  timers.py      the per-peer timer rules, as timestamps checked on tick
  peer.py        a peer: its handshake, keypairs, timers, endpoint, queue
  device.py      the entry points: send_packet, receive_datagram, tick
See API.md for the contract with the adapters.
"""
