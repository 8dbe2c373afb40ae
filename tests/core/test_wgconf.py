"""wg-quick config files: good files parse to the right values, and every bad
file fails with one ConfigError that names the line and field to fix."""

import binascii

import pytest
from hypothesis import given, settings, strategies as st

from vpnspot_router.core import wgconf
from vpnspot_router.core.wgconf import ConfigError, parse

# pytest parametrisation and hypothesis have no MicroPython counterpart; the
# parser itself is core code and imports under MicroPython.
CPYTHON_ONLY = "uses pytest (parametrize, raises) and hypothesis"

# Fixed keys (arbitrary bytes, canonical base64) so failures are reproducible.
PRIV = binascii.b2a_base64(bytes(range(32))).decode().strip()
PUB1 = binascii.b2a_base64(bytes(range(32, 64))).decode().strip()
PUB2 = binascii.b2a_base64(bytes(range(64, 96))).decode().strip()
PSK = binascii.b2a_base64(bytes([7] * 32)).decode().strip()

GOOD = """\
# wg-quick file as a provider would hand it out
[Interface]
PrivateKey = %s
Address = 10.77.0.2/24, fd77::2/64
ListenPort = 51820
DNS = 10.77.0.1, fd77::1
MTU = 1420

[Peer]
PublicKey = %s
PresharedKey = %s
Endpoint = 203.0.113.10:51820
AllowedIPs = 0.0.0.0/0, ::/0
PersistentKeepalive = 25
""" % (PRIV, PUB1, PSK)


def minimal(extra_interface="", peer=""):
    return "[Interface]\nPrivateKey = %s\n%s%s" % (PRIV, extra_interface, peer)


def error_of(text, filename="wgX.conf"):
    with pytest.raises(ConfigError) as info:
        parse(text, filename)
    return info.value


# ---------------------------------------------------------------- good files

def test_a_typical_provider_file_parses_into_interface_and_peer_values():
    conf = parse(GOOD, "wg0.conf")
    iface = conf.interface
    assert iface.private_key == bytes(range(32))
    assert iface.addresses == [("10.77.0.2", 24), ("fd77::2", 64)]
    assert iface.listen_port == 51820
    assert iface.dns == ["10.77.0.1", "fd77::1"]
    assert iface.mtu == 1420
    assert len(conf.peers) == 1
    peer = conf.peers[0]
    assert peer.public_key == bytes(range(32, 64))
    assert peer.preshared_key == bytes([7] * 32)
    assert peer.endpoint == ("203.0.113.10", 51820)
    assert peer.endpoint_family == 4
    assert peer.allowed_ips == [("0.0.0.0", 0), ("::", 0)]
    assert peer.persistent_keepalive == 25
    assert conf.warnings == []


def test_keys_and_section_names_are_case_insensitive():
    text = "[INTERFACE]\nprivatekey=%s\naddress=10.77.0.2/32\n[peer]\nPUBLICKEY = %s\nallowedips=10.77.0.0/24\n" % (PRIV, PUB1)
    conf = parse(text)
    assert conf.interface.addresses == [("10.77.0.2", 32)]
    assert conf.peers[0].allowed_ips == [("10.77.0.0", 24)]


def test_comments_with_hash_and_semicolon_and_blank_lines_are_ignored():
    text = ("; leading comment\n\n   # indented comment\n[Interface] # trailing\n"
            "PrivateKey = %s # our key\nAddress = 10.77.0.2/24 ; v4\n\r\n[Peer] ; gw\n"
            "PublicKey = %s\n" % (PRIV, PUB1))
    conf = parse(text)
    assert conf.interface.addresses == [("10.77.0.2", 24)]
    assert conf.peers[0].public_key == bytes(range(32, 64))


def test_windows_line_endings_are_accepted():
    conf = parse(GOOD.replace("\n", "\r\n"))
    assert conf.peers[0].endpoint == ("203.0.113.10", 51820)


def test_allowed_ips_accumulate_over_several_lines_and_commas():
    peer = "[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.0/24,\nAllowedIPs = fd77::/16 , 198.51.100.7\nAllowedIPs =\n" % PUB1
    conf = parse(minimal(peer=peer))
    assert conf.peers[0].allowed_ips == [("10.77.0.0", 24), ("fd77::", 16), ("198.51.100.7", 32)]


def test_allowed_ips_with_host_bits_mean_the_network_as_in_wg():
    conf = parse(minimal(peer="[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.9/24, fd77::1234/16\n" % PUB1))
    assert conf.peers[0].allowed_ips == [("10.77.0.0", 24), ("fd77::", 16)]


def test_interface_addresses_keep_their_host_bits_and_bare_addresses_are_hosts():
    conf = parse(minimal("Address = 10.77.0.9/24\nAddress = fd77::9, 10.77.1.1\n"))
    assert conf.interface.addresses == [("10.77.0.9", 24), ("fd77::9", 128), ("10.77.1.1", 32)]


def test_several_peers_are_kept_in_file_order():
    peers = "[Peer]\nPublicKey = %s\n[Peer]\nPublicKey = %s\nEndpoint = 198.51.100.1:1\n" % (PUB1, PUB2)
    conf = parse(minimal(peer=peers))
    assert [p.public_key for p in conf.peers] == [bytes(range(32, 64)), bytes(range(64, 96))]
    assert conf.peers[0].endpoint is None


def test_an_ipv6_endpoint_in_brackets_is_normalised():
    conf = parse(minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = [FD77:0::0:10]:51820\n" % PUB1))
    assert conf.peers[0].endpoint == ("fd77::10", 51820)
    assert conf.peers[0].endpoint_family == 6


def test_a_hostname_endpoint_is_kept_unresolved_for_the_adapter():
    conf = parse(minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = gw-1.vpn.example:443\n" % PUB1))
    assert conf.peers[0].endpoint == ("gw-1.vpn.example", 443)
    assert conf.peers[0].endpoint_family is None


@pytest.mark.parametrize("value,seconds", [("0", 0), ("off", 0), ("OFF", 0), ("25", 25), ("65535", 65535)])
def test_persistent_keepalive_accepts_seconds_or_off(value, seconds):
    conf = parse(minimal(peer="[Peer]\nPublicKey = %s\nPersistentKeepalive = %s\n" % (PUB1, value)))
    assert conf.peers[0].persistent_keepalive == seconds


def test_dns_search_domains_are_kept_apart_from_server_addresses():
    conf = parse(minimal("DNS = 10.77.0.1, home.lan, fd77::1\n"))
    assert conf.interface.dns == ["10.77.0.1", "fd77::1"]
    assert conf.interface.dns_search == ["home.lan"]


def test_listen_port_zero_means_any_free_port():
    assert parse(minimal("ListenPort = 0\n")).interface.listen_port == 0


def test_known_but_unused_keys_are_kept_and_each_adds_a_warning_with_its_line():
    extra = ("Table = off\nPreUp = true\nPostUp = iptables -A FORWARD -i %i -j ACCEPT; echo up\n"
             "PreDown = true\nPostDown = echo down\nSaveConfig = true\nFwMark = 0x1234\n")
    conf = parse(minimal(extra), "wg0.conf")
    iface = conf.interface
    assert iface.table == "off"
    assert iface.post_up == ["iptables -A FORWARD -i %i -j ACCEPT; echo up"]
    assert iface.pre_up == ["true"] and iface.pre_down == ["true"] and iface.post_down == ["echo down"]
    assert iface.save_config is True
    assert iface.fwmark == "0x1234"
    assert len(conf.warnings) == 7
    assert conf.warnings[0].startswith("wg0.conf:3: Table:")
    assert conf.warnings[2].startswith("wg0.conf:5: PostUp:")


def test_a_file_with_no_peers_is_valid():
    assert parse(minimal()).peers == []


def test_the_private_key_never_appears_in_the_repr():
    assert PRIV not in repr(parse(GOOD))
    assert "redacted" in repr(parse(GOOD).interface)


# ----------------------------------------------------------------- bad files
# (text, line, field, words the message must contain)

BAD = [
    ("[Interface]\nPrivateKey = abc\n", 2, "PrivateKey", "32-byte base64"),
    ("[Interface]\nPrivateKey = %s\n" % PRIV[:-2] + "==", 2, "PrivateKey", "32-byte base64"),
    # 31 bytes, canonical base64 of the wrong length
    ("[Interface]\nPrivateKey = %s\n" % binascii.b2a_base64(bytes(31)).decode().strip(), 2, "PrivateKey", "32-byte"),
    # non-canonical: stray low bits in the last character
    ("[Interface]\nPrivateKey = %s\n" % (PRIV[:42] + "B="), 2, "PrivateKey", "32-byte"),
    ("[Interface]\nPrivateKey = %s\n" % (PRIV[:10] + "!" + PRIV[11:]), 2, "PrivateKey", "32-byte"),
    ("[Interface]\nAddress = 10.77.0.2/24\n", 1, "PrivateKey", "missing"),
    ("[Interface]\nPrivateKey = %s\nPrivateKey = %s\n" % (PRIV, PRIV), 3, "PrivateKey", "line 2"),
    ("[Interface]\nPrivateKey =\n", 2, "PrivateKey", "needs a value"),
    (minimal("Address = 10.77.0.256/24\n"), 3, "Address", "IPv4"),
    (minimal("Address = 10.77.0.2/33\n"), 3, "Address", "prefix length"),
    (minimal("Address = fd77::2/129\n"), 3, "Address", "prefix length"),
    (minimal("Address = fd77:::2/64\n"), 3, "Address", "IPv6"),
    (minimal("Address = 10.77.0.2/24, bogus\n"), 3, "Address", "IPv4"),
    (minimal("Address = 0x1::/64\n"), 3, "Address", "IPv6"),
    (minimal("Address = -1::/64\n"), 3, "Address", "IPv6"),
    (minimal("ListenPort = 65536\n"), 3, "ListenPort", "0 to 65535"),
    (minimal("ListenPort = -1\n"), 3, "ListenPort", "0 to 65535"),
    (minimal("ListenPort = \u00b9\n"), 3, "ListenPort", "0 to 65535"),
    (minimal("MTU = 100\n"), 3, "MTU", "576"),
    (minimal("MTU = 1420\nMTU = 1400\n"), 4, "MTU", "already set on line 3"),
    (minimal("DNS = 10.77.0.1, 1.2.3.999\n"), 3, "DNS", "search domain"),
    (minimal("SaveConfig = maybe\n"), 3, "SaveConfig", "true or false"),
    (minimal("Colour = blue\n"), 3, "Colour", "unknown key"),
    (minimal("PublicKey = %s\n" % PUB1), 3, "PublicKey", "belongs in [Peer]"),
    (minimal("just some words\n"), 3, "just some words", "Key = Value"),
    (minimal(peer="[Peer]\nAllowedIPs = 10.77.0.0/24\n"), 3, "PublicKey", "missing"),
    (minimal(peer="[Peer]\nPublicKey = %s\nPublicKey = %s\n" % (PUB1, PUB2)), 5, "PublicKey", "already set"),
    (minimal(peer="[Peer]\nPublicKey = %s\n\n[Peer]\nPublicKey = %s\n" % (PUB1, PUB1)), 7, "PublicKey", "line 4"),
    (minimal(peer="[Peer]\nPublicKey = %s\nPresharedKey = short\n" % PUB1), 5, "PresharedKey", "32-byte"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.10\n" % PUB1), 5, "Endpoint", ":port"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.10:0\n" % PUB1), 5, "Endpoint", "1 to 65535"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.10:70000\n" % PUB1), 5, "Endpoint", "1 to 65535"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = 203.0.113.300:51820\n" % PUB1), 5, "Endpoint", "IPv4"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = fd77::1:51820\n" % PUB1), 5, "Endpoint", "brackets"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = [fd77::1:51820\n" % PUB1), 5, "Endpoint", "[address]:port"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = [203.0.113.1]:51820\n" % PUB1), 5, "Endpoint", "only for IPv6"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = bad_host!:51820\n" % PUB1), 5, "Endpoint", "hostname"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpoint = :51820\n" % PUB1), 5, "Endpoint", "missing host"),
    (minimal(peer="[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.0/24, 10.77.0/24\n" % PUB1), 5, "AllowedIPs", "IPv4"),
    (minimal(peer="[Peer]\nPublicKey = %s\nAllowedIPs = 10.77.0.0/x\n" % PUB1), 5, "AllowedIPs", "prefix length"),
    (minimal(peer="[Peer]\nPublicKey = %s\nPersistentKeepalive = 65536\n" % PUB1), 5, "PersistentKeepalive", "or off"),
    (minimal(peer="[Peer]\nPublicKey = %s\nPersistentKeepalive = on\n" % PUB1), 5, "PersistentKeepalive", "or off"),
    (minimal(peer="[Peer]\nPublicKey = %s\nListenPort = 1\n" % PUB1), 5, "ListenPort", "belongs in [Interface]"),
    (minimal(peer="[Peer]\nPublicKey = %s\nEndpiont = 1.2.3.4:5\n" % PUB1), 5, "Endpiont", "unknown key"),
    (minimal(peer="[Peers]\n"), 3, "[Peers]", "unknown section"),
    (minimal(peer="[Peer\n"), 3, "[Peer", "must end with ']'"),
    (minimal(peer="[Interface]\nPrivateKey = %s\n" % PRIV), 3, "[Interface]", "second [Interface]"),
    ("PrivateKey = %s\n[Interface]\n" % PRIV, 1, "PrivateKey", "before any section"),
    ("\n\n[Peer]\nPublicKey = %s\n" % PUB1, None, "[Interface]", "missing"),
    ("", None, "[Interface]", "missing"),
]


@pytest.mark.parametrize("text,line,field,words", BAD)
def test_each_bad_file_fails_naming_its_line_and_field(text, line, field, words):
    err = error_of(text)
    assert (err.filename, err.line, err.field) == ("wgX.conf", line, field)
    assert words in err.message
    where = "wgX.conf" if line is None else "wgX.conf:%d" % line
    assert str(err) == "%s: %s: %s" % (where, field, err.message)


def test_the_error_text_has_the_file_line_field_message_shape():
    err = error_of(minimal(peer="[Peer]\nPublicKey = nope\n"))
    assert str(err) == "wgX.conf:4: PublicKey: not a 32-byte base64 key"


def test_a_config_error_is_a_value_error_so_generic_callers_catch_it():
    assert issubclass(ConfigError, ValueError)


def test_non_text_input_is_a_config_error():
    with pytest.raises(ConfigError):
        parse(b"[Interface]\n")


def test_keys_round_trip_through_encode_and_decode():
    key = bytes(range(100, 132))
    assert wgconf.decode_key(wgconf.encode_key(key)) == key


# ------------------------------------------------------------------ fuzzing

_config_words = st.sampled_from([
    "[Interface]", "[Peer]", "[peer]", "PrivateKey = " + PRIV, "PublicKey = " + PUB1, "PublicKey = " + PUB2,
    "Address = ", "AllowedIPs = ", "Endpoint = ", "DNS = ", "MTU = ", "ListenPort = ",
    "PersistentKeepalive = ", "PresharedKey = ", "Table = ", "PostUp = ", "SaveConfig = ",
    "=", ",", "/", ":", "[", "]", "::", ".", "#", ";", "\n", "\r", " ", "10.77.0.1", "fd77::1",
    "0x1", "-1", "\u00b2", "\u0663", "65536", "off", "1_0", "%", "255.255.255.255/32",
])


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises_anything_but_config_error(text):
    try:
        conf = parse(text, "fuzz.conf")
    except ConfigError as err:
        assert err.filename == "fuzz.conf"
    else:
        assert conf.interface is not None


@settings(max_examples=600, deadline=None)
@given(st.lists(_config_words, max_size=40).map("".join))
def test_config_shaped_noise_never_raises_anything_but_config_error(text):
    try:
        conf = parse(text, "fuzz.conf")
    except ConfigError as err:
        assert err.filename == "fuzz.conf" and err.field
    else:
        assert conf.interface.private_key == bytes(range(32))
