"""Fuzz targets for files the agent reads: WireGuard .conf files, the UCI
settings file and the ISP's provisioning file, and what the router says
about itself (/proc/crypto, /proc/cpuinfo, board.json, release files).

Text files are read the way the adapters read them: the .conf file decoded
with errors="replace" (agent.read_text), the settings file as bytes through
the same validator the file store runs on start (configstore._validator),
the provisioning file as UTF-8 text. The documented answer to a bad file
is ConfigError (file, line, field); hardware files never raise at all.

Invariants checked besides "no other exception":
  uci.roundtrip   parse(text).serialize() == text for any text that parses
  uci.edit        a value set through Document.set/config.change reads
                  back unchanged after serialize -> parse (any characters:
                  quotes, backslashes, newlines, '#')
"""

import os

from tests.fuzz.registry import Bytes, register
from vpnspot_router import configstore
from vpnspot_router.core import config, hwprobe, uci, wgconf
from vpnspot_router.core.wgconf import ConfigError

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAPTURES = os.path.join(PROJECT, "hardware", "captures")

KEY_A = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
KEY_B = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="

WG_SEEDS = [
    """[Interface]
PrivateKey = %s
Address = 10.77.0.2/24, fd77:77::2/64
ListenPort = 51821
MTU = 1420
DNS = 10.77.0.1
Table = off
PostUp = iptables -A FORWARD -i %%i -j ACCEPT; echo up

[Peer]
PublicKey = %s
PresharedKey = %s
Endpoint = 203.0.113.10:51820
AllowedIPs = 10.77.0.0/24, fd77:77::/64
AllowedIPs = 0.0.0.0/0
PersistentKeepalive = 25
""" % (KEY_A, KEY_B, KEY_A),
    "[Interface]\nPrivateKey=%s\n[Peer]\nPublicKey=%s\nEndpoint=[fd77::1]:51820 # c\n"
    "AllowedIPs=::/0\n; comment\n[peer]\npublickey = %s\nendpoint = gw.example.net:1\n"
    % (KEY_A, KEY_B, KEY_A),
]

UCI_SEEDS = [
    """# /etc/config/vpnspot
config vpnspot 'main'
	option enabled '1'
	option account_email 'household@example.net'
	option region 'fastest'
	option kill_switch '1'
	option dns_mode 'custom'
	list dns_servers '10.77.0.1'
	list dns_servers "fd77::1"
	option mtu auto ; option web_port 8080
	option api_url 'https://api.vpnspot.net/v1'

config console 'console'
	option baud '115200'
	option tty '/dev/ttyS0'
""",
    "package vpnspot\nconfig vpnspot main\n\toption region 'de-fra' # why\n\toption partner_id "
    "'it'\\''s'\"x\"y\n\toption server \"a\\\nb\"\nconfig console\n\toption enabled off\n",
]

PROVISIONING_SEEDS = [
    """config provider 'provider'
	option name 'Example ISP'
	option colour_primary '#003366'
	option colour_accent '#ff6600'
	list lock 'kill_switch'
	list lock 'api_url'

config vpnspot 'main'
	option api_url 'https://vpn.isp.example/api/v1'
	option ca_file '/etc/vpnspot/isp-ca.pem'
	option partner_id 'example-isp'
	option region 'nl-ams'
	option kill_switch '1'
""",
]


def _capture_seeds():
    seeds = []
    try:
        names = sorted(os.listdir(CAPTURES))
    except OSError:
        return seeds
    for name in names:
        with open(os.path.join(CAPTURES, name), "rb") as f:
            seeds.append(f.read()[:3072])
    return seeds


def _text(data):
    return data.decode("utf-8", "replace")


# -- .conf -------------------------------------------------------------------

def check_wgconf(data):
    wgconf.parse(_text(data), "/etc/vpnspot/wg0.conf")


register("conf.wgconf", check_wgconf, expected=(ConfigError,),
         seeds=[s.encode() for s in WG_SEEDS], max_len=4096,
         doc="WireGuard .conf files (vpnspot tunnel up)")


# -- UCI -----------------------------------------------------------------------

def check_uci_roundtrip(data):
    text = _text(data)
    doc = uci.parse(text, "/etc/config/vpnspot")
    out = doc.serialize()
    assert out == text, "serialize() changed the text of a file that parsed"


register("uci.roundtrip", check_uci_roundtrip, expected=(ConfigError,),
         seeds=[s.encode() for s in UCI_SEEDS + PROVISIONING_SEEDS], max_len=4096,
         doc="any UCI file: parse, and the round trip keeps every byte")

_EDIT_OPTIONS = ("region", "server", "partner_id", "x", "dns_servers")


_EDIT_DOCS = ("config vpnspot 'main'\n\toption region 'x' # kept\n\tlist dns_servers '10.77.0.1'\n",
              "config vpnspot\n\toption server \"a\\\nb\" ; option x y\n")


def check_uci_edit(data):
    r = Bytes(data)
    doc = uci.parse(_EDIT_DOCS[r.byte() % len(_EDIT_DOCS)], "/etc/config/vpnspot")
    option = r.choice(_EDIT_OPTIONS)
    as_list = r.byte() & 1
    raw = r.rest()
    value = [_text(v) for v in raw.split(b"\x00")] if as_list else _text(raw)
    section = doc.sections()[0].ref
    try:
        doc.set(section, option, value)
    except ConfigError:
        return
    again = uci.parse(doc.serialize(), "/etc/config/vpnspot")
    got = again.get(section, option)
    assert got == value, "a value did not survive serialize -> parse: %r -> %r" % (value, got)


register("uci.edit", check_uci_edit, expected=(),
         seeds=[b"\x00\x00\x00it's \"q\" \\ # x\n y", b"\x01\x04\x01a\x00b'c\x00"],
         max_len=512, doc="values written by the web UI/console come back unchanged")


_PROVISIONING = config.parse_provisioning(PROVISIONING_SEEDS[0])
_PATHS = configstore.Paths("/etc/config/vpnspot", ())


def check_settings_file(data):
    # Alternate with and without an ISP's provisioning (locks change the path).
    prov = _PROVISIONING if data[:1] == b"\x01" else None
    validate = configstore._validator(_PATHS, prov)
    try:
        validate(data)
    except UnicodeDecodeError:
        return      # a ValueError: the store moves such a file aside
    if not data.startswith(b"\x01"):
        return
    # A household change on top of what parsed, as the web UI makes it.
    text = data.decode("utf-8")
    settings = config.load(text, prov)
    doc = uci.parse(text, "/etc/config/vpnspot")
    r = Bytes(data[-8:])
    key = r.choice([f.key for f in config.FIELDS])
    value = _text(data[1:17])
    field = config.FIELD_BY_KEY[key]
    config.change(doc, settings, key, [value] if field.is_list else value)
    config.load(doc.serialize(), prov)


register("uci.settings", check_settings_file, expected=(ConfigError,),
         seeds=[s.encode() for s in UCI_SEEDS] + [b"\x01" + UCI_SEEDS[0].encode()], max_len=4096,
         doc="/etc/config/vpnspot as the agent loads it on start, and a change on top")


def check_provisioning(data):
    prov = config.parse_provisioning(_text(data), "/etc/vpnspot/provisioning")
    config.load(UCI_SEEDS[0], prov)


register("uci.provisioning", check_provisioning, expected=(ConfigError,),
         seeds=[s.encode() for s in PROVISIONING_SEEDS + UCI_SEEDS], max_len=4096,
         doc="the ISP's provisioning file, then the household file on top of it")


# -- hardware --------------------------------------------------------------------

_CAPTURES = _capture_seeds()


def check_proc_crypto(data):
    blocks = hwprobe.parse_proc_crypto(_text(data))
    hwprobe.crypto_summary(blocks)


def check_board_files(data):
    text = _text(data)
    hwprobe.parse_board_json(text)
    hwprobe.parse_ubus_board(text)
    hwprobe.parse_compatible(data)
    hwprobe.parse_safexcel_algmask(text)


def check_cpu_and_release(data):
    text = _text(data)
    cpu = hwprobe.parse_cpuinfo(text)
    hwprobe.parse_env_file(text)
    if isinstance(cpu, dict):
        hwprobe.simd_of(cpu.get("arch"), cpu.get("features") or ())


_PROFILE_NAMES = ("proc/crypto", "proc/cpuinfo", "etc/board.json", "ubus_board",
                  "tmp/sysinfo/model", "tmp/sysinfo/board_name", "device-tree/compatible",
                  "etc/openwrt_release", "etc/os-release", "kernel_release", "dmesg")


def check_profile(data):
    texts = {}
    pieces = data.split(b"\x00\x00")
    for i, name in enumerate(_PROFILE_NAMES):
        if i < len(pieces) and pieces[i] != b"-":
            texts[name] = pieces[i] if name == "device-tree/compatible" else _text(pieces[i])
    profile = hwprobe.build_profile(texts)
    profile.as_dict()


register("hw.proc_crypto", check_proc_crypto, seeds=_CAPTURES, max_len=3072,
         doc="/proc/crypto")
register("hw.board_files", check_board_files, seeds=_CAPTURES, max_len=3072,
         doc="/etc/board.json, ubus system board, device-tree compatible, safexcel dmesg")
register("hw.cpu_release", check_cpu_and_release, seeds=_CAPTURES, max_len=3072,
         doc="/proc/cpuinfo, /etc/openwrt_release, /etc/os-release")
register("hw.profile", check_profile, seeds=[b"\x00\x00".join(c[:400] for c in _CAPTURES[:11])], max_len=6144,
         doc="every probe input together -> Profile")
