"""tunnel/wgnetlink.py: the standard-library netlink reads of kernel WireGuard.

The device dump parser is checked against pyroute2's own decoder on the
same bytes (a dump of two messages, one peer split across them, IPv4 and
IPv6 endpoints and allowed IPs, a preshared key and none); the socket
against this machine's kernel (generic netlink control family, a missing
WireGuard family, RTM_DELLINK in a lab namespace). tests/vm runs the
whole LeanNetlink against the VM's kernel WireGuard.
"""

import os
import socket
import struct
import subprocess
import sys

import pytest

from vpnspot_router.tunnel import kernel as K
from vpnspot_router.tunnel import wgnetlink as W

A = W.attr


def nest(kind, items):
    return A(kind | W.NLA_F_NESTED, b"".join(items))


def sockaddr(addr, port):
    if ":" in addr:
        return (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, 0)
                + socket.inet_pton(socket.AF_INET6, addr) + struct.pack("=I", 0))
    return (struct.pack("=H", socket.AF_INET) + struct.pack("!H", port)
            + socket.inet_pton(socket.AF_INET, addr) + b"\0" * 8)


def allowed(i, cidr):
    addr, length = cidr.split("/")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return nest(i, [A(W.WGALLOWEDIP_A_FAMILY, struct.pack("=H", family)),
                    A(W.WGALLOWEDIP_A_IPADDR, socket.inet_pton(family, addr)),
                    A(W.WGALLOWEDIP_A_CIDR_MASK, bytes([int(length)]))])


def peer(i, pub, psk, endpoint, keepalive, handshake, rx, tx, ips):
    return nest(i, [A(W.WGPEER_A_PUBLIC_KEY, pub), A(W.WGPEER_A_PRESHARED_KEY, psk),
                    A(W.WGPEER_A_ENDPOINT, sockaddr(*endpoint)),
                    A(W.WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, struct.pack("=H", keepalive)),
                    A(W.WGPEER_A_LAST_HANDSHAKE_TIME, struct.pack("=qq", *handshake)),
                    A(W.WGPEER_A_RX_BYTES, struct.pack("=Q", rx)),
                    A(W.WGPEER_A_TX_BYTES, struct.pack("=Q", tx)),
                    nest(W.WGPEER_A_ALLOWEDIPS, [allowed(n, c) for n, c in enumerate(ips)])])


def dump():
    """Two WG_CMD_GET_DEVICE answers as the kernel sends them: peer 1's
    second allowed IP continues in the second message."""
    priv, pub, pub1, pub2, psk = (os.urandom(32) for _ in range(5))
    device = [A(1, struct.pack("=I", 5)), A(W.WGDEVICE_A_IFNAME, b"wg0\0"),
              A(W.WGDEVICE_A_PRIVATE_KEY, priv), A(W.WGDEVICE_A_PUBLIC_KEY, pub),
              A(W.WGDEVICE_A_LISTEN_PORT, struct.pack("=H", 51820)),
              A(W.WGDEVICE_A_FWMARK, struct.pack("=I", 0x5653))]
    head = struct.pack("=BBH", W.WG_CMD_GET_DEVICE, W.WG_GENL_VERSION, 0)
    first = head + b"".join(device) + nest(W.WGDEVICE_A_PEERS, [
        peer(0, pub1, psk, ("203.0.113.10", 51820), 25, (1700000000, 500000000), 1234, 99,
             ["10.77.0.0/24"])])
    rest = nest(0, [A(W.WGPEER_A_PUBLIC_KEY, pub1),
                    nest(W.WGPEER_A_ALLOWEDIPS, [allowed(0, "fd77:77::/64")])])
    second = head + b"".join(device) + nest(W.WGDEVICE_A_PEERS, [
        rest, peer(1, pub2, bytes(32), ("fd77:113::10", 4242), 0, (0, 0), 0, 0, ["0.0.0.0/0"])])
    return [first, second], priv, pub, pub1, pub2, psk


def pyroute2_reading(bodies):
    """kernel.PyrouteNetlink.wg_read over the same bytes, decoded by pyroute2."""
    from pyroute2.netlink.generic.wireguard import wgmsg
    msgs = []
    for body in bodies:
        m = wgmsg(struct.pack("=IHHII", 16 + len(body), 0x20, 2, 1, 0) + body)
        m.decode()
        msgs.append(m)

    class Dump(object):
        def info(self, ifname):
            return msgs
    nl = K.PyrouteNetlink.__new__(K.PyrouteNetlink)
    nl._wg = Dump()
    return nl.wg_read("wg0")


def test_a_device_dump_reads_exactly_as_pyroute2_reads_it():
    bodies, priv, pub, pub1, pub2, psk = dump()
    mine, theirs = W.parse_device(bodies), pyroute2_reading(bodies)
    for field in ("private_key", "public_key", "listen_port", "fwmark"):
        assert getattr(mine, field) == getattr(theirs, field), field
    assert mine.peers == theirs.peers
    assert (mine.private_key, mine.public_key, mine.listen_port, mine.fwmark) == (priv, pub, 51820, 0x5653)
    one, two = mine.peers[pub1], mine.peers[pub2]
    assert one.settings.allowed_ips == frozenset(["10.77.0.0/24", "fd77:77::/64"])
    assert one.settings.endpoint == ("203.0.113.10", 51820) and one.settings.preshared_key == psk
    assert (one.last_handshake, one.rx_bytes, one.tx_bytes) == (1700000000.5, 1234, 99)
    assert one.settings.persistent_keepalive == 25
    assert two.settings.endpoint == ("fd77:113::10", 4242) and two.settings.preshared_key is None
    assert (two.last_handshake, two.rx_bytes) == (0.0, 0)


def test_a_truncated_attribute_ends_the_list_instead_of_raising():
    data = A(1, b"abcd") + struct.pack("=HH", 40, 2) + b"xy"
    assert W.attr_list(data) == [(1, b"abcd")]


def test_the_kernels_generic_netlink_control_family_answers_with_its_own_id():
    sock = W.NetlinkSocket(W.NETLINK_GENERIC)
    try:
        assert W.genl_family(sock, "nlctrl") == W.GENL_ID_CTRL
        with pytest.raises(OSError) as info:
            W.genl_family(sock, "no-such-family")
        assert info.value.errno == 2
        assert W.genl_family(sock, "nlctrl") == W.GENL_ID_CTRL     # usable after an error
    finally:
        sock.close()


def test_reading_a_device_the_kernel_cannot_show_is_a_kernel_error_naming_it():
    nl = W.LeanNetlink()
    with pytest.raises(K.KernelError, match="cannot read WireGuard device vsnothere0: "):
        nl.wg_read("vsnothere0")
    assert nl.link_index("vsnothere0") is None
    nl.delete_link("vsnothere0")            # nothing to remove: no error


REMOVE = """
import socket, sys
from vpnspot_router.tunnel.wgnetlink import LeanNetlink
nl = LeanNetlink()
assert nl.link_index("vsdel0") is not None
nl.delete_link("vsdel0")
print(nl.link_index("vsdel0"))
"""


@pytest.mark.interop
def test_delete_link_removes_an_interface_with_rtm_dellink(lab):
    lab.add_ns("nl")
    lab.run("nl", "ip", "link", "add", "vsdel0", "type", "veth", "peer", "name", "vsdel1")
    out = lab.run("nl", sys.executable, "-c", REMOVE)
    assert out.stdout.strip() == "None"
    links = lab.run("nl", "ip", "-o", "link", "show").stdout
    assert "vsdel0" not in links and "vsdel1" not in links      # a veth goes with its peer
    assert subprocess.run(["ip", "link", "show", "vsdel0"], capture_output=True).returncode != 0
