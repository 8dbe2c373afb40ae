"""The liveness probe on the wire (net/tunnelprobe.py) and the driver's use
of it: echo format, reply matching, and what happens when it cannot be
sent."""

import struct

from vpnspot_router import driver
from vpnspot_router.core import config as core_config
from vpnspot_router.core import supervisor as sv
from vpnspot_router.net import tunnelprobe as tp
from vpnspot_router.tunnel import backend as be


def as_reply(request, ident=None):
    """The IPv4 packet a server sends back for `request`."""
    body = bytearray(request)
    body[0] = 0
    if ident is not None:
        struct.pack_into("!H", body, 4, ident)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0, 0, 64, 1, 0,
                     bytes([10, 77, 0, 1]), bytes([10, 77, 0, 2]))
    return ip + bytes(body)


def test_an_echo_request_checksums_to_zero_and_carries_nothing_of_the_household():
    req = tp.echo_request(0x1234, 70000)
    assert req[0] == 8 and tp.checksum(req) == 0
    assert struct.unpack_from("!HH", req, 4) == (0x1234, 70000 & 0xFFFF)
    assert req[8:] == tp.PAYLOAD


def test_only_echo_replies_with_our_identifier_are_taken_as_answers():
    req = tp.echo_request(0x1234, 5)
    assert tp.parse_echo_reply(as_reply(req), 0x1234) == 5
    assert tp.parse_echo_reply(as_reply(req, ident=0x9999), 0x1234) is None
    assert tp.parse_echo_reply(as_reply(req)[:24], 0x1234) is None
    unreachable = bytearray(as_reply(req))
    unreachable[20] = 3
    assert tp.parse_echo_reply(bytes(unreachable), 0x1234) is None


def agent_connected_to_a_probed_server(tmp_path, prober_factory):
    agent = driver.ServiceAgent(core_config.Settings(), {"lan": "br-lan", "wan": "wan",
                                                         "tunnel": "vpnspot0"},
                                str(tmp_path / "state"), str(tmp_path / "run"), provider=None,
                                firewall=object(), routing=object(),
                                data_plane=be.Choice("userspace", "test"),
                                backend_factory=None, prober_factory=prober_factory)
    sup = agent.sup
    server = {"id": "gw", "region": "europe", "load": 1, "endpoint": "203.0.113.10:51820",
              "dns": ["10.77.0.1"], "ipv6": False,
              "public_key": "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="}
    sup.boot(0)
    sup.killswitch_loaded(0, True)
    sup.servers_fetched(0, [server])
    sup.key_registered_ok(0, {"ipv4": "10.77.0.2/32", "ipv6": None})
    sup.probed(0, {"gw": [5]})
    acts = sup.monitor(1.0, 0.9, 148, 148)
    assert [a.kind for a in acts] == [sv.PROBE_TUNNEL]
    return agent, acts


def test_the_driver_sends_each_probe_and_feeds_the_answer_back(tmp_path):
    fake = tp.FakeProber(answering=["10.77.0.1"])
    agent, acts = agent_connected_to_a_probed_server(tmp_path, lambda device: fake)
    agent.dispatch(acts)
    assert fake.sent == [(acts[0].seq, "10.77.0.1")]
    agent._probe_replies()
    assert agent.sup.liveness.answering and agent.sup.liveness.replies == 1
    agent._stop_plane()
    assert fake.closed and agent.prober is None


def test_a_probe_that_cannot_be_sent_leaves_the_tunnel_to_the_passive_limit(tmp_path):
    def no_raw_sockets(device):
        raise PermissionError(1, "Operation not permitted")
    agent, acts = agent_connected_to_a_probed_server(tmp_path, no_raw_sockets)
    agent.dispatch(acts)
    assert agent.sup.liveness.unanswered == 1 and not agent.sup.liveness.answering
    assert "Operation not permitted" in agent.prober_problem
    assert agent.sup.state == sv.CONNECTED
