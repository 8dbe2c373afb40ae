"""Which networks are LAN (core/lannets.py): fw4 zones and forwardings,
netifd's devices and live l3_device, and the household's explicit list."""

from vpnspot_router.core import lannets
from vpnspot_router.core.lannets import LanError

# OpenWrt 23.05's defaults (firewall4 + DSA), with what uci-defaults of the
# package adds (the tunnel's network, zone and lan -> vpnspot forwarding).
FIREWALL = (
    "config defaults\n"
    "\toption input 'REJECT'\n"
    "\toption forward 'REJECT'\n"
    "\n"
    "config zone\n"
    "\toption name 'lan'\n"
    "\tlist network 'lan'\n"
    "\toption forward 'ACCEPT'\n"
    "\n"
    "config zone\n"
    "\toption name 'wan'\n"
    "\tlist network 'wan'\n"
    "\tlist network 'wan6'\n"
    "\toption masq '1'\n"
    "\n"
    "config forwarding\n"
    "\toption src 'lan'\n"
    "\toption dest 'wan'\n"
    "\n"
    "config zone 'vpnspot'\n"
    "\toption name 'vpnspot'\n"
    "\tlist network 'vpnspot'\n"
    "\n"
    "config forwarding 'vpnspot_lan'\n"
    "\toption src 'lan'\n"
    "\toption dest 'vpnspot'\n"
)

NETWORK = (
    "config interface 'loopback'\n"
    "\toption device 'lo'\n"
    "\toption proto 'static'\n"
    "\n"
    "config device\n"
    "\toption name 'br-lan'\n"
    "\toption type 'bridge'\n"
    "\tlist ports 'lan1'\n"
    "\n"
    "config interface 'lan'\n"
    "\toption device 'br-lan'\n"
    "\toption proto 'static'\n"
    "\n"
    "config interface 'wan'\n"
    "\toption device 'wan'\n"
    "\toption proto 'dhcp'\n"
    "\n"
    "config interface 'wan6'\n"
    "\toption device 'wan'\n"
    "\toption proto 'dhcpv6'\n"
    "\n"
    "config interface 'vpnspot'\n"
    "\toption proto 'none'\n"
    "\toption device 'vpnspot0'\n"
)

# What LuCI's "guest Wi-Fi" recipe adds: its own bridge, zone and forwarding.
GUEST_NETWORK = (
    "\nconfig device\n"
    "\toption name 'br-guest'\n"
    "\toption type 'bridge'\n"
    "\n"
    "config interface 'guest'\n"
    "\toption device 'br-guest'\n"
    "\toption proto 'static'\n"
)
GUEST_FIREWALL = (
    "\nconfig zone\n"
    "\toption name 'guest'\n"
    "\tlist network 'guest'\n"
    "\toption input 'REJECT'\n"
    "\n"
    "config forwarding\n"
    "\toption src 'guest'\n"
    "\toption dest 'wan'\n"
)


def _error(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except LanError as e:
        return e
    raise AssertionError("no LanError")


def test_the_stock_router_protects_br_lan_only():
    lan = lannets.derive(FIREWALL, NETWORK)
    assert lan.networks == [("lan", "br-lan")]
    assert lan.devices == ["br-lan"]
    assert lan.how == "auto"


def test_a_guest_network_that_forwards_to_the_wan_is_lan():
    lan = lannets.derive(FIREWALL + GUEST_FIREWALL, NETWORK + GUEST_NETWORK)
    assert lan.networks == [("lan", "br-lan"), ("guest", "br-guest")]
    assert lan.devices == ["br-guest", "br-lan"]


def test_a_vlan_device_on_a_dsa_bridge_is_taken_as_written():
    net = NETWORK.replace("\toption device 'br-lan'\n\toption proto 'static'",
                          "\toption device 'br-lan.1'\n\toption proto 'static'")
    lan = lannets.derive(FIREWALL, net)
    assert lan.devices == ["br-lan.1"]


def test_netifd_l3_device_wins_over_the_configuration():
    dump = {"interface": [{"interface": "lan", "up": True, "l3_device": "br-lan.10",
                           "device": "br-lan"},
                          {"interface": "wan", "up": True, "l3_device": "pppoe-wan"}]}
    lan = lannets.derive(FIREWALL, NETWORK, dump)
    assert lan.devices == ["br-lan.10"]


def test_a_damaged_dump_is_ignored_not_trusted():
    for dump in (None, [], {"interface": "x"}, {"interface": [1, {"interface": "lan"},
                                                              {"interface": "lan", "l3_device": 5}]}):
        assert lannets.derive(FIREWALL, NETWORK, dump).devices == ["br-lan"]


def test_legacy_bridge_and_ifname_configurations_name_their_devices():
    net = ("config interface 'lan'\n\toption type 'bridge'\n\toption ifname 'eth0.1'\n"
           "config interface 'iot'\n\toption ifname 'eth0.3'\n\toption proto 'static'\n"
           "config interface 'wan'\n\toption ifname 'eth0.2'\n\toption proto 'dhcp'\n")
    fw = FIREWALL.replace("\tlist network 'lan'\n", "\toption network 'lan iot'\n")
    lan = lannets.derive(fw, net)
    assert lan.networks == [("lan", "br-lan"), ("iot", "eth0.3")]


def test_an_alias_follows_its_parent_network():
    net = NETWORK + "config interface 'lan6'\n\toption device '@lan'\n\toption proto 'dhcpv6'\n"
    fw = FIREWALL.replace("\tlist network 'lan'\n", "\tlist network 'lan'\n\tlist network 'lan6'\n")
    lan = lannets.derive(fw, net)
    assert lan.networks == [("lan", "br-lan"), ("lan6", "br-lan")]
    assert lan.devices == ["br-lan"]


def test_a_zone_that_does_not_forward_to_the_wan_is_not_lan():
    fw = FIREWALL + GUEST_FIREWALL.replace("option dest 'wan'", "option dest 'lan'")
    assert lannets.derive(fw, NETWORK + GUEST_NETWORK).devices == ["br-lan"]


def test_a_disabled_forwarding_does_not_count():
    fw = FIREWALL + GUEST_FIREWALL + ""
    fw = fw.replace("\toption src 'guest'\n", "\toption src 'guest'\n\toption enabled '0'\n")
    assert lannets.derive(fw, NETWORK + GUEST_NETWORK).devices == ["br-lan"]


def test_the_wan_zone_and_the_tunnel_are_never_lan():
    # A forwarding wan -> wan and vpnspot -> wan must not turn either into LAN.
    fw = FIREWALL + ("config forwarding\n\toption src 'vpnspot'\n\toption dest 'wan'\n"
                     "config forwarding\n\toption src 'wan'\n\toption dest 'wan'\n")
    assert lannets.derive(fw, NETWORK).devices == ["br-lan"]


def test_a_lan_network_on_the_wan_device_is_left_out_with_a_note():
    net = NETWORK + "config interface 'odd'\n\toption device 'wan'\n"
    fw = FIREWALL.replace("\tlist network 'lan'\n", "\tlist network 'lan'\n\tlist network 'odd'\n")
    lan = lannets.derive(fw, net)
    assert lan.devices == ["br-lan"]
    assert "also the WAN's" in " ".join(lan.notes)


def test_a_network_without_a_device_yet_is_noted_and_the_rest_kept():
    fw = FIREWALL + GUEST_FIREWALL
    lan = lannets.derive(fw, NETWORK)      # guest zone written, network not yet
    assert lan.devices == ["br-lan"]
    assert "'guest'" in lan.notes[0]


def test_a_device_name_that_could_inject_a_rule_is_refused():
    net = NETWORK + 'config interface \'guest\'\n\toption device \'x" accept\'\n'
    lan = lannets.derive(FIREWALL + GUEST_FIREWALL, net)
    assert lan.devices == ["br-lan"]
    e = _error(lannets.derive, FIREWALL, net, None, ("guest",))
    assert "not an interface name" in str(e)


def test_zone_devices_count_as_written():
    fw = FIREWALL.replace("\tlist network 'lan'\n", "\tlist network 'lan'\n\tlist device 'tap0'\n")
    assert lannets.derive(fw, NETWORK).devices == ["br-lan", "tap0"]


def test_an_explicit_list_names_exactly_those_networks():
    lan = lannets.derive(FIREWALL + GUEST_FIREWALL, NETWORK + GUEST_NETWORK, None, ("guest",))
    assert lan.networks == [("guest", "br-guest")]
    assert lan.how == "list"
    # A network in no zone can still be named.
    net = NETWORK + "config interface 'lab'\n\toption device 'eth9'\n"
    assert lannets.derive(FIREWALL, net, None, ("lan", "lab")).devices == ["br-lan", "eth9"]


def test_an_explicit_list_refuses_unknown_wan_and_tunnel_networks_by_name():
    e = _error(lannets.derive, FIREWALL, NETWORK, None, ("lan", "gest"))
    assert e.field == "lan_networks" and "'gest'" in str(e) and "lan, wan, wan6" in str(e)
    for name in ("wan", "wan6", "vpnspot"):
        e = _error(lannets.derive, FIREWALL, NETWORK, None, (name,))
        assert "not a LAN network" in str(e)


def test_no_lan_at_all_is_an_error_that_says_what_to_do():
    fw = FIREWALL.replace("config forwarding\n\toption src 'lan'\n\toption dest 'wan'\n", "")
    e = _error(lannets.derive, fw, NETWORK)
    assert "lan_networks" in str(e)
    assert _error(lannets.derive, None, NETWORK).filename == "/etc/config/firewall"


def test_a_pppoe_or_wireguard_network_gets_the_device_netifd_makes():
    net = NETWORK + ("config interface 'ppp'\n\toption proto 'pppoe'\n\toption device 'eth1'\n"
                     "config interface 'wg0'\n\toption proto 'wireguard'\n")
    # An explicit device always wins; a protocol's own device only without one.
    assert lannets.derive(FIREWALL, net, None, ("wg0",)).devices == ["wg0"]
    net2 = NETWORK + "config interface 'ppp'\n\toption proto 'pppoe'\n\toption ifname 'eth1'\n"
    assert lannets.derive(FIREWALL, net2, None, ("ppp",)).devices == ["pppoe-ppp"]


def test_the_household_names_lan_networks_as_a_uci_list():
    from vpnspot_router.core import config
    from vpnspot_router.core.wgconf import ConfigError
    assert config.load(None).lan_networks == ()
    s = config.load("config vpnspot 'main'\n\tlist lan_networks 'lan'\n\tlist lan_networks 'guest'\n")
    assert s.lan_networks == ("lan", "guest")
    for text, words in (("\toption lan_networks 'lan guest'\n", "list lan_networks"),
                        ("\tlist lan_networks 'br-lan'\n", "not a network name"),
                        ("\tlist lan_networks ''\n", "network name")):
        try:
            config.load("config vpnspot 'main'\n" + text, None, "/etc/config/vpnspot")
        except ConfigError as e:
            assert e.line == 2 and e.field == "lan_networks" and words in str(e), str(e)
        else:
            raise AssertionError("accepted %r" % text)


def test_a_lan_zone_without_a_forwarding_into_the_tunnel_zone_gets_a_note_with_the_fix():
    lan = lannets.derive(FIREWALL + GUEST_FIREWALL, NETWORK + GUEST_NETWORK)
    (note,) = lan.notes
    assert note.startswith("zone guest (network guest) has no forwarding to zone vpnspot")
    assert "firewall.@forwarding[-1].src=guest" in note
    fixed = FIREWALL + GUEST_FIREWALL + "config forwarding\n\toption src 'guest'\n\toption dest 'vpnspot'\n"
    assert lannets.derive(fixed, NETWORK + GUEST_NETWORK).notes == []
    assert lannets.derive(FIREWALL + GUEST_FIREWALL, NETWORK + GUEST_NETWORK, None,
                          ("guest",)).notes == [note]
