"""Registering a key provisions the lab gateways, and the router can then connect.

Interop (root, namespaces, wireguard-go): the reference service runs on
loopback in the test process; two wireguard-go gateways run in namespaces
`gw` and `gw2`; the router side is a wireguard-go interface in `router`
configured only from what the client got back from the service.
"""

import pytest

from vpnspot_router.lab import netns
from vpnspot_router.lab.provider_service import ProviderService, WgSetProvisioner, server_entry
from vpnspot_router.provider.client import ProviderClient

from .conftest import CODE, EMAIL, Sleeps

pytestmark = pytest.mark.interop


def test_a_registered_key_is_provisioned_on_every_gateway_and_a_tunnel_comes_up(lab, tmp_path):
    lab.add_ns("router")
    gateways = {}
    servers = []
    for role, wan, gw_addr, port in (("gw", "198.51.100", "198.51.100.1", 51820),
                                     ("gw2", "203.0.113", "203.0.113.1", 51821)):
        lab.add_ns(role)
        lab.add_link("router", role, wan + ".2/24", gw_addr + "/24")
        wg = lab.start_wireguard_go(role, role, netns.wg_genkey(), listen_port=port,
                                    address_cidrs=["10.77.0.1/24"])
        gateways[role] = WgSetProvisioner.for_gateway(wg)
        servers.append(server_entry(role, "%s:%d" % (gw_addr, port), wg.public_key))
        gateways[role].wg = wg

    with ProviderService(state_dir=str(tmp_path), servers=servers,
                         provisioners=gateways, ipv6_prefix=None) as service:
        service.add_account(EMAIL)
        service.add_activation_code(CODE, EMAIL)
        client = ProviderClient(service.url, ca_file=service.ca_file, resolve=service.resolve,
                                sleep=Sleeps(), timeout=5)
        client.enroll(EMAIL, CODE)
        listed = client.servers()
        private = netns.wg_genkey()
        public = netns.wg_pubkey(private)
        addresses = client.register_key(public)
        assert private not in repr(service.received)

    for prov in gateways.values():
        peer = prov.wg.show().peers[public]
        assert peer.allowed_ips == [addresses.ipv4]

    # The router connects to the first server using only the service's answers.
    first = listed[0]
    lab.start_wireguard_go("router", "r0", private, address_cidrs=[addresses.ipv4],
                           routes=["10.77.0.1/32"],
                           peers=[{"public_key": first.public_key, "endpoint": first.endpoint,
                                   "allowed_ips": ["10.77.0.1/32"]}])
    lab.ping("router", "10.77.0.1", count=2)
