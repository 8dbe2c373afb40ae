"""The connection check (GET /v1/connection): the client's call, the socket
it goes out on, and the reference service's answer. Loopback only; the
check through a real tunnel is in tests/router/test_exit_address.py."""

import socket

import pytest

from vpnspot_router.lab.provider_service import ProviderService, server_entry
from vpnspot_router.net import routing
from vpnspot_router.provider import client as c
from vpnspot_router.provider import transport as t

from .conftest import GW_KEY


def test_the_check_answers_the_address_the_service_saw_and_that_loopback_is_no_exit(
        service, make_client):
    answer = make_client().connection_check()
    assert answer == c.ConnectionCheck("127.0.0.1", False)
    assert service.connection_checks[-1] == ("127.0.0.1", False)
    last = service.received[-1]
    assert (last.method, last.path, last.body) == ("GET", "/v1/connection", b"")


def test_the_check_carries_no_token_even_from_an_enrolled_client(service, enrolled):
    enrolled.connection_check()
    last = service.received[-1]
    assert last.path == "/v1/connection"
    assert "authorization" not in last.headers
    assert set(last.headers) <= {"host", "accept", "accept-encoding", "user-agent"}


def test_a_client_without_a_token_may_check(service, make_client):
    assert make_client().connection_check().address == "127.0.0.1"


def test_a_listed_exit_address_is_a_vpnspot_exit(tmp_path):
    with ProviderService(state_dir=str(tmp_path), exit_addresses=["127.0.0.1"]) as other:
        client = c.ProviderClient(other.url, ca_file=other.ca_file, resolve=other.resolve,
                                  timeout=2.0, retries=0)
        assert client.connection_check() == c.ConnectionCheck("127.0.0.1", True)


def test_tunnel_prefixes_and_gateway_endpoints_are_exits_and_a_wan_address_is_not(tmp_path):
    servers = [server_entry("nl-ams-1", "203.0.113.10:51820", GW_KEY),
               server_entry("nl-ams-2", "gw2.vpnspot.test:51820", GW_KEY)]
    with ProviderService(state_dir=str(tmp_path), servers=servers) as svc:
        for peer, exit_ in (("10.77.0.2", True), ("10.77.0.254", True), ("fd77:77::2", True),
                            ("::ffff:10.77.0.2", True), ("203.0.113.10", True),
                            ("198.51.100.2", False), ("10.78.0.2", False),
                            ("fd77:100::2", False), ("127.0.0.1", False)):
            status, answer, _ = svc.dispatch("GET", "/v1/connection", {}, b"", peer=peer)
            assert status == 200 and answer["vpnspot"] is exit_, (peer, answer)
            assert svc.spec.validate(svc.spec.response_schema(
                svc.spec.operation("GET", "/v1/connection"), 200), answer) == []
        # An IPv4-mapped peer (a dual-stack listener) is answered as IPv4.
        assert svc.dispatch("GET", "/v1/connection", {}, b"",
                            peer="::ffff:10.77.0.2")[1]["address"] == "10.77.0.2"


def test_the_check_takes_no_body(service):
    transport = t.HttpsTransport(ca_file=service.ca_file, resolve=service.resolve)
    resp = transport.handle(t.Request("GET", service.url + "/v1/connection",
                                      {"Content-Type": "application/json"}, b'{"lan": 1}', 2.0))
    assert resp.status == 400


def test_an_answer_that_is_not_an_address_is_a_protocol_error():
    def answer(request):
        return t.Response(200, {}, b'{"address": "::::", "vpnspot": true}')
    client = c.ProviderClient("https://api.vpnspot.test", transport=t.FakeTransport(answer),
                              retries=0)
    with pytest.raises(c.ProtocolError):
        client.connection_check()


# -- the socket it goes out on ----------------------------------------------


def _listener():
    # The kernel completes the connection from the backlog; nothing accepts.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    return srv


def test_a_device_bound_socket_is_bound_to_that_interface_and_carries_no_wan_mark():
    srv = _listener()
    try:
        sock = t.open_socket("127.0.0.1", srv.getsockname()[1], 2.0, device="lo")
    except PermissionError:
        pytest.fail("binding a socket to an interface needs CAP_NET_RAW (run as root)",
                    pytrace=False)
    try:
        bound = sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16)
        assert bound.rstrip(b"\0") == b"lo"
        mark = sock.getsockopt(socket.SOL_SOCKET, socket.SO_MARK)
        assert mark == 0 and mark != routing.FWMARK
    finally:
        sock.close()
        srv.close()


def test_without_a_device_the_socket_is_not_bound():
    srv = _listener()
    sock = t.open_socket("127.0.0.1", srv.getsockname()[1], 2.0)
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, 16).rstrip(b"\0") == b""
    finally:
        sock.close()
        srv.close()


def test_the_check_goes_out_of_the_named_interface_only(service, make_client):
    # Over loopback bound to `lo` it arrives; bound to an interface that
    # does not exist it fails rather than take another route.
    assert make_client(device="lo", retries=0).connection_check().address == "127.0.0.1"
    with pytest.raises(c.NoNetwork):
        make_client(device="vpnspot-none0", retries=0).connection_check()
