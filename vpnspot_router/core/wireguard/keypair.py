"""One session's transport state: keys, counters, replay window, age.

A peer holds up to three (whitepaper 6.3): `next` (responder side, until the
initiator proves it has the keys by sending data), `current` (used to send)
and `previous` (still accepted on receive, so in-flight packets are not lost
across a rekey).
"""

from .replay import ReplayWindow


class Keypair:
    def __init__(self, provider, send_key, receive_key, initiator, created, local_index, remote_index):
        self.send = provider.aead(send_key)
        self.receive = provider.aead(receive_key)
        self.initiator = initiator
        self.created = created
        self.local_index = local_index
        self.remote_index = remote_index
        self.send_counter = 0
        self.replay = ReplayWindow()

    def __repr__(self):
        return "Keypair(index=%d, initiator=%s, <redacted>)" % (self.local_index, self.initiator)
