"""A tiny Device obeying core/wireguard/API.md, for driving the data plane
without the real WireGuard core, plus a `main` that runs it on a real TUN.

Behaviour, chosen so each test can provoke one action:
  send_packet: an IPv4 ICMP echo request is answered at once (DeliverPacket
      of the echo reply, so `ping` through a real TUN works), and every
      packet is also "sent" to the peer as b"E" + packet (SendDatagram);
      with no endpoint the packet is a Drop(NO_ENDPOINT).
  receive_datagram, by first byte:
      b"E" -> DeliverPacket(rest)            b"D" -> Drop(DECRYPT_FAILED)
      b"X" -> raises (a simulated core bug)  b"G" -> PeerEvent(HANDSHAKE_GAVE_UP)
      b"R" -> the peer roams to `addr`: PeerEvent(ENDPOINT_CHANGED)
      anything else -> Drop(UNKNOWN_TYPE)

Run in a namespace:  python tests/tunnel/fakecore.py IFNAME ADDR/LEN STATUS_FILE
"""

import struct
import sys

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.actions import (SendDatagram, DeliverPacket, Drop, PeerEvent,
                                                   HANDSHAKE_GAVE_UP, ENDPOINT_CHANGED)

PEER_KEY = bytes(range(32))


class FakePeer:
    def __init__(self, public_key, endpoint):
        self.public_key = public_key
        self.endpoint = endpoint
        self.allowed_ips = [("10.77.0.0", 24)]
        self.persistent_keepalive = 0
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.last_handshake = None


class FakeDevice:
    def __init__(self, endpoint=None):
        self.peer = FakePeer(PEER_KEY, endpoint)
        self.peers = {PEER_KEY: self.peer}
        self.drops = {}
        self.wall_offset = None
        self.ticks = []
        self.deadline = None
        self.received = []

    def send_packet(self, packet, now):
        out = []
        if _is_echo_request(packet):
            out.append(DeliverPacket(_echo_reply(packet), self.peer))
        if self.peer.endpoint is None:
            out.append(Drop(drops.NO_ENDPOINT, self.peer))
        else:
            self.peer.tx_bytes += len(packet) + 1
            out.append(SendDatagram(b"E" + packet, self.peer.endpoint, self.peer))
        return out

    def receive_datagram(self, data, addr, now):
        self.received.append((data, addr, now))
        tag = data[:1]
        if tag == b"E":
            self.peer.rx_bytes += len(data)
            return [DeliverPacket(data[1:], self.peer)]
        if tag == b"D":
            return [Drop(drops.DECRYPT_FAILED, self.peer)]
        if tag == b"X":
            raise RuntimeError("simulated core bug")
        if tag == b"G":
            return [PeerEvent(HANDSHAKE_GAVE_UP, self.peer)]
        if tag == b"R":
            self.peer.endpoint = addr
            return [PeerEvent(ENDPOINT_CHANGED, self.peer)]
        return [Drop(drops.UNKNOWN_TYPE)]

    def tick(self, now):
        self.ticks.append(now)
        return []

    def next_deadline(self):
        return self.deadline


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _is_echo_request(packet):
    if len(packet) < 28 or packet[0] >> 4 != 4 or packet[9] != 1:
        return False
    ihl = (packet[0] & 15) * 4
    return len(packet) >= ihl + 8 and packet[ihl] == 8


def _echo_reply(packet):
    ihl = (packet[0] & 15) * 4
    out = bytearray(packet)
    out[12:16], out[16:20] = packet[16:20], packet[12:16]   # swapping keeps the header checksum
    out[ihl] = 0
    out[ihl + 2:ihl + 4] = b"\0\0"
    out[ihl + 2:ihl + 4] = struct.pack("!H", _checksum(bytes(out[ihl:])))
    return bytes(out)


def main(argv):
    from vpnspot_router.tunnel import bind, dataplane, tun

    ifname, cidr, status_path = argv
    addr, length = cidr.split("/")
    dev = tun.TunDevice(ifname)
    tun.configure_link(dev.name, [(addr, int(length))], 1420, [])
    udp = bind.UdpBind(0)
    # The fake peer's endpoint is our own socket: "sent" datagrams come back
    # as b"E"+packet and are delivered, exercising the whole UDP path.
    plane = dataplane.DataPlane(FakeDevice(("127.0.0.1", udp.port)), dev, udp,
                                status_path=status_path, status_interval=0.5)
    print("ready", flush=True)
    return plane.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
