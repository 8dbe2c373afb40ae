"""What the WireGuard core asks its driver to do.

Every entry point of `Device` (send_packet, receive_datagram, tick) returns a
list of actions; the driver dispatches each in order and does nothing else:

    for action in device.receive_datagram(data, addr, now):
        if action.kind == SEND: udp.sendto(action.data, action.addr)
        elif action.kind == DELIVER: tun.write(action.packet)
        elif action.kind == DROP: counters[action.reason] += 1
        elif action.kind == EVENT: log(action.event, action.peer)

`kind` is a small int so the hot path dispatches without isinstance chains.
Keep drops.py (reasons) and events below in sync with the README's
"errors and counters" table.
"""

SEND = 1
DELIVER = 2
DROP = 3
EVENT = 4
SEND_MANY = 5       # only from the batch entry points (Device.send_packets)
DELIVER_MANY = 6    # only from the batch entry points (Device.receive_datagrams)


class SendDatagram:
    """Send `data` as one UDP datagram to `addr` (the bind's opaque address)."""
    kind = SEND

    def __init__(self, data, addr, peer=None):
        self.data = data
        self.addr = addr
        self.peer = peer

    def __repr__(self):
        return "SendDatagram(%d bytes -> %r)" % (len(self.data), self.addr)


class DeliverPacket:
    """Write the decrypted IP `packet` (from `peer`) to the TUN device."""
    kind = DELIVER

    def __init__(self, packet, peer):
        self.packet = packet
        self.peer = peer

    def __repr__(self):
        return "DeliverPacket(%d bytes)" % len(self.packet)


class SendDatagrams:
    """Send each of `datas`, in order, as its own UDP datagram to `addr`; a
    run of consecutive SendDatagram actions for one peer, folded into one
    action so the driver can hand the run to the kernel in one call."""
    kind = SEND_MANY

    def __init__(self, datas, addr, peer=None):
        self.datas = datas
        self.addr = addr
        self.peer = peer

    def __repr__(self):
        return "SendDatagrams(%d datagrams -> %r)" % (len(self.datas), self.addr)


class DeliverPackets:
    """Write each of `packets`, in order, to the TUN device (a folded run of
    DeliverPacket actions from one peer)."""
    kind = DELIVER_MANY

    def __init__(self, packets, peer):
        self.packets = packets
        self.peer = peer

    def __repr__(self):
        return "DeliverPackets(%d packets)" % len(self.packets)


class Drop:
    """Input was discarded; `reason` is a code from drops.py."""
    kind = DROP

    def __init__(self, reason, peer=None):
        self.reason = reason
        self.peer = peer

    def __repr__(self):
        from . import drops
        return "Drop(%s)" % drops.name(self.reason)


# Peer events, for status, logs and the supervisor.
HANDSHAKE_INITIATED = "handshake-initiated"
HANDSHAKE_COMPLETE = "handshake-complete"      # a new session is usable
HANDSHAKE_GAVE_UP = "handshake-gave-up"        # REKEY_ATTEMPT_TIME passed without a response
ENDPOINT_CHANGED = "endpoint-changed"          # roaming: an authenticated packet came from a new address
SESSIONS_EXPIRED = "sessions-expired"          # REJECT_AFTER_TIME * 3 passed: all keys zeroed
COOKIE_RECEIVED = "cookie-received"            # the peer is under load and sent us a cookie


class PeerEvent:
    kind = EVENT

    def __init__(self, event, peer):
        self.event = event
        self.peer = peer

    def __repr__(self):
        return "PeerEvent(%s)" % self.event
