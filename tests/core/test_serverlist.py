"""core/serverlist.py: which server entries the router may use, and the
one problem it names for each one it refuses (server, field, what)."""

from vpnspot_router.core import ipaddr
from vpnspot_router.core import serverlist as L

KEY = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk="     # base64 of 32 x 0x09
GOOD = {"id": "nl-ams-1", "region": "europe", "country": "NL", "city": "Amsterdam",
        "hostname": "nl-ams-1.vpnspot.test", "endpoint": "203.0.113.10:51820",
        "public_key": KEY, "load": 10, "ipv6": True, "dns": ["10.77.0.1", "fd77:77::1"]}
# The lab router: LAN br-lan 192.168.77.1/24 and fd77:1::1/64, WAN 198.51.100.2/24.
NETWORKS = L.router_networks([("lo", "127.0.0.1/8"), ("br-lan", "192.168.77.1/24"),
                              ("br-lan", "fd77:1::1/64"), ("wan", "198.51.100.2/24"),
                              ("br-lan.1@br-lan", "192.168.78.1/24")], ["br-lan", "br-lan.1"])


def with_(**fields):
    entry = dict(GOOD)
    entry.update(fields)
    return entry


def test_the_router_networks_are_whole_lan_prefixes_and_single_other_addresses():
    shown = [ipaddr.format_prefix(*p) for p in NETWORKS]
    assert shown == ["127.0.0.1/32", "192.168.77.0/24", "fd77:1::/64", "198.51.100.2/32",
                     "192.168.78.0/24"]


def test_a_lab_server_at_a_documentation_address_or_a_dns_name_is_accepted():
    assert L.server_problem(GOOD, NETWORKS) is None
    assert L.server_problem(with_(endpoint="gw.vpnspot.test:51820"), NETWORKS) is None
    assert L.server_problem(with_(endpoint="[2001:db8::10]:51820"), NETWORKS) is None
    # The WAN's neighbour (an upstream gateway) is not the router itself.
    assert L.server_problem(with_(endpoint="198.51.100.1:51820"), NETWORKS) is None
    assert L.server_problem(with_(endpoint="203.0.113.10:65535", load=0, ipv6=False,
                                  dns=["9.9.9.9"]), NETWORKS) is None


def test_endpoints_the_review_found_accepted_are_refused_naming_server_and_field():
    cases = [
        ("127.0.0.1:51820", "127.0.0.1 is the router's own address"),
        ("127.0.0.2:51820", "127.0.0.2 is a loopback address"),
        ("[::1]:51820", "::1 is a loopback address"),
        ("localhost:51820", "localhost names the router itself"),
        ("192.168.77.20:51820", "192.168.77.20 is inside the router's own network 192.168.77.0/24"),
        ("192.168.78.9:51820", "inside the router's own network 192.168.78.0/24"),
        ("[fd77:1::9]:51820", "inside the router's own network fd77:1::/64"),
        ("198.51.100.2:51820", "198.51.100.2 is the router's own address"),
        ("169.254.1.1:51820", "169.254.1.1 is a link-local address"),
        ("[fe80::1]:51820", "fe80::1 is a link-local address"),
        ("203.0.113.10:0", "the port must be a number from 1 to 65535"),
        ("203.0.113.10:65536", "the port must be a number from 1 to 65535"),
        ("0.0.0.0:51820", "0.0.0.0 is the unspecified address"),
        ("[::]:51820", ":: is the unspecified address"),
        ("224.0.0.1:51820", "224.0.0.1 is a multicast address"),
        ("[ff02::1]:51820", "ff02::1 is a multicast address"),
        ("255.255.255.255:51820", "255.255.255.255 is the broadcast address"),
        ("240.0.0.1:51820", "240.0.0.1 is a reserved address"),
        ("10.1.2.3:51820", "10.1.2.3 is a private address"),
        ("172.16.0.1:51820", "172.16.0.1 is a private address"),
        ("100.64.0.1:51820", "100.64.0.1 is a private address"),
        ("[fd00::1]:51820", "fd00::1 is a private address"),
        ("[::ffff:127.0.0.1]:51820", "is a loopback address"),
        ("1.2.3:51820", "'1.2.3' is not an IPv4 address"),
    ]
    for endpoint, words in cases:
        problem = L.server_problem(with_(endpoint=endpoint), NETWORKS)
        assert problem is not None, endpoint
        assert problem.startswith("server nl-ams-1: endpoint: "), problem
        assert words in problem, (endpoint, problem)


def test_dns_values_that_are_not_unicast_addresses_are_refused():
    cases = [
        (["0.0.0.0"], "0.0.0.0 is the unspecified address"),
        (["::"], ":: is the unspecified address"),
        (["127.0.0.53"], "127.0.0.53 is a loopback address"),
        (["192.168.77.1"], "192.168.77.1 is inside the router's own network 192.168.77.0/24"),
        (["198.51.100.2"], "198.51.100.2 is the router's own address"),
        (["10.77.0.1", "1.2.3"], "'1.2.3' is not an IPv4 address"),
        (["fd77::1::2"], "more than one '::'"),
        (["10.77.0.1 "], "is not an IP address"),
        (["dns.example"], "is not an IP address"),
        (["224.0.0.251"], "multicast"),
        (["fe80::53"], "link-local"),
        ([], "must list 1 to 4 addresses"),
        (["10.77.0.1"] * 5, "must list 1 to 4 addresses"),
        ("10.77.0.1", "must list 1 to 4 addresses"),
    ]
    for dns, words in cases:
        problem = L.server_problem(with_(dns=dns), NETWORKS)
        assert problem is not None and problem.startswith("server nl-ams-1: dns: "), (dns, problem)
        assert words in problem, (dns, problem)
    # Tunnel-side resolvers are private addresses, and that is fine.
    assert L.server_problem(with_(dns=["10.77.0.1", "fd77:77::1", "100.64.0.53"]), NETWORKS) is None


def test_keys_ids_load_and_ipv6_are_checked_too():
    cases = [
        (with_(public_key="CQkJ"), "public_key: not a WireGuard public key (base64 of 32 bytes)"),
        (with_(public_key=KEY[:42] + "B="), "public_key: not a WireGuard public key (base64 of 32 bytes)"),
        (with_(public_key=None), "public_key: not a WireGuard public key (base64 of 32 bytes)"),
        (with_(load=101), "load: must be a whole number from 0 to 100"),
        (with_(load=True), "load: must be a whole number from 0 to 100"),
        (with_(ipv6="yes"), "ipv6: must be true or false"),
    ]
    for entry, words in cases:
        problem = L.server_problem(entry, NETWORKS)
        assert problem == "server nl-ams-1: " + words, problem
    problem = L.server_problem(with_(id="NL AMS"), NETWORKS)
    assert problem == "server 'NL AMS': id: only a-z, 0-9 and - are allowed", problem


def test_a_list_keeps_every_good_entry_in_order_and_names_each_refused_one():
    servers = [with_(id="a"), with_(id="b", dns=["0.0.0.0"]), with_(id="c"),
               with_(id="d", endpoint="127.0.0.1:51820"), "junk", with_(id="a")]
    kept, problems = L.usable(servers, NETWORKS)
    assert [s["id"] for s in kept] == ["a", "c"]
    assert problems == [
        "server b: dns: 0.0.0.0 is the unspecified address",
        "server d: endpoint: '127.0.0.1:51820': 127.0.0.1 is the router's own address",
        "server #5 in the list: not an object",
        "server a: id: listed twice; the first entry is used",
    ]
    assert L.usable([], NETWORKS) == ([], [])


def test_the_households_own_server_may_be_private_but_not_the_router_or_its_lan():
    own = {"id": "own", "own": True, "endpoint": "192.168.1.5:51820", "dns": [], "region": None}
    assert L.own_problem(own, NETWORKS) is None
    assert L.own_problem(dict(own, endpoint="vpn.example.net:51820", dns=["10.8.0.1"]),
                         NETWORKS) is None
    assert L.own_problem(dict(own, endpoint="192.168.77.5:51820"), NETWORKS) == (
        "Endpoint: '192.168.77.5:51820': 192.168.77.5 is inside the router's own network "
        "192.168.77.0/24")
    assert "a loopback address" in L.own_problem(dict(own, endpoint="127.0.0.2:51820"), NETWORKS)
    assert "link-local" in L.own_problem(dict(own, endpoint="[fe80::1]:51820"), NETWORKS)
    assert L.own_problem(dict(own, dns=["10.8.0.1", "0.0.0.0"]), NETWORKS) == (
        "DNS: 0.0.0.0 is the unspecified address")


def test_tunnel_addresses_must_be_prefixes_of_the_right_family():
    assert L.addresses_problem({"ipv4": "10.77.0.2/32", "ipv6": None}, NETWORKS) is None
    assert L.addresses_problem({"ipv4": "10.77.0.2/32", "ipv6": "fd77:77::2/128"}, NETWORKS) is None
    cases = [
        ({"ipv4": "1.2.3/32", "ipv6": None}, "ipv4: '1.2.3' is not an IPv4 address"),
        ({"ipv4": "10.77.0.2", "ipv6": None}, "ipv4: '10.77.0.2' has no /length"),
        ({"ipv4": "10.77.0.2/33", "ipv6": None}, "ipv4: '10.77.0.2/33': prefix length 33 exceeds 32"),
        ({"ipv4": "fd77::2/128", "ipv6": None}, "ipv4: 'fd77::2/128' is not an IPv4 prefix"),
        ({"ipv4": "127.0.0.2/32", "ipv6": None}, "ipv4: 127.0.0.2 is a loopback address"),
        ({"ipv4": "192.168.77.9/32", "ipv6": None},
         "ipv4: 192.168.77.9 is inside the router's own network 192.168.77.0/24"),
        ({"ipv4": "10.77.0.2/32", "ipv6": "10.77.0.3/32"}, "ipv6: '10.77.0.3/32' is not an IPv6 prefix"),
        ({"ipv6": None}, "ipv4: missing"),
    ]
    for addresses, words in cases:
        assert L.addresses_problem(addresses, NETWORKS) == words, addresses


def test_address_kinds_follow_the_special_purpose_registries():
    cases = [("0.0.0.0", ipaddr.UNSPECIFIED), ("0.1.2.3", ipaddr.RESERVED),
             ("127.255.0.1", ipaddr.LOOPBACK), ("169.254.0.1", ipaddr.LINK_LOCAL),
             ("239.1.1.1", ipaddr.MULTICAST), ("255.255.255.255", ipaddr.BROADCAST),
             ("250.0.0.1", ipaddr.RESERVED), ("10.0.0.1", ipaddr.PRIVATE),
             ("172.31.255.255", ipaddr.PRIVATE), ("172.32.0.1", ipaddr.GLOBAL),
             ("192.168.0.1", ipaddr.PRIVATE), ("100.127.0.1", ipaddr.PRIVATE),
             ("100.128.0.1", ipaddr.GLOBAL), ("198.18.0.1", ipaddr.PRIVATE),
             ("203.0.113.10", ipaddr.GLOBAL), ("198.51.100.1", ipaddr.GLOBAL),
             ("9.9.9.9", ipaddr.GLOBAL), ("::", ipaddr.UNSPECIFIED), ("::1", ipaddr.LOOPBACK),
             ("fe80::1", ipaddr.LINK_LOCAL), ("febf::1", ipaddr.LINK_LOCAL),
             ("ff02::1", ipaddr.MULTICAST), ("fd77::1", ipaddr.PRIVATE),
             ("fc00::1", ipaddr.PRIVATE), ("::ffff:10.0.0.1", ipaddr.PRIVATE),
             ("::ffff:203.0.113.1", ipaddr.GLOBAL), ("::1.2.3.4", ipaddr.RESERVED),
             ("2001:db8::1", ipaddr.GLOBAL), ("2a00::1", ipaddr.GLOBAL)]
    for text, kind in cases:
        assert ipaddr.address_kind(*ipaddr.parse_address(text)) == kind, text
