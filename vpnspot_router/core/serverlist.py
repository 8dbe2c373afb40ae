"""The servers the router may use: every server entry, wherever it comes
from, passes the checks here before the household's traffic goes to it.

Owns one question, asked in one place: is this server entry safe and
usable? The entries come from
  - the provider's list (GET /v1/servers): Supervisor.servers_fetched()
    keeps the entries that pass usable() and refuses the rest, one problem
    each, which the driver logs; a list with no usable entry is handled
    like a failed call (retry with backoff, the last good server meanwhile);
  - the last good server saved on flash (an older agent saved it without
    these checks): Supervisor.killswitch_loaded() / use_vpnspot() ignore it
    when server_problem() finds one;
  - the tunnel addresses the provider assigns at key registration:
    addresses_problem(), in Supervisor.key_registered_ok();
  - the household's own server (STATE/wg-household.conf): own_problem(),
    in driver.py, before the supervisor is told to use it;
  - an endpoint given as a DNS name: the driver checks every address the
    name resolves to with check_address() before a probe is sent to it.

The rules (keep README "The VPN Spot service API" and "Your own WireGuard
server" in sync; openapi.yaml's Server schema describes them too):
  id          1..32 of a-z 0-9 -
  endpoint    host:port or [IPv6]:port (wg-quick's grammar, core/wgconf.py),
              port 1..65535, host a DNS name or an address. A VPN Spot
              server's address is a public one (ENDPOINT_KINDS: never
              unspecified, loopback, link-local, multicast, broadcast,
              reserved or private, i.e. RFC 1918, 100.64.0.0/10, fc00::/7);
              the household's own server may also be at a private address
              (a server on the network upstream of the router). Neither may
              be inside the router's own networks (its LAN prefixes and
              every address it holds): the tunnel's UDP is the one thing
              the kill switch lets out, and it must go to the internet.
  public_key  a WireGuard key: canonical base64 of exactly 32 bytes
  dns         1..4 addresses (VPN Spot; the own server's file may have
              none), each unicast: private is fine (tunnel resolvers live
              at tunnel-side addresses such as 10.77.0.1), unspecified,
              loopback, link-local, multicast, broadcast and reserved are
              not, and neither is any address in the router's own networks
              (LAN DNS would be sent back to the router or a LAN device,
              outside the tunnel, instead of through it)
  ipv6        true or false;  load  an integer 0..100 (ranking uses it)
  addresses   ipv4 an IPv4 prefix, ipv6 null or an IPv6 prefix; the
              address neither special nor in the router's networks

Sans-IO and MicroPython-portable: plain functions over dicts and strings;
a problem is a string naming the field and what is wrong, never raised.
"""

from . import ipaddr
# wg-quick's Endpoint grammar, one parser for the file and the API.
from .wgconf import decode_key, _endpoint

ENDPOINT_KINDS = (ipaddr.GLOBAL,)
OWN_ENDPOINT_KINDS = (ipaddr.GLOBAL, ipaddr.PRIVATE)
DNS_KINDS = (ipaddr.GLOBAL, ipaddr.PRIVATE)
TUNNEL_KINDS = (ipaddr.GLOBAL, ipaddr.PRIVATE)

MAX_DNS = 4
_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"

_KIND_TEXT = {
    ipaddr.UNSPECIFIED: "the unspecified address",
    ipaddr.LOOPBACK: "a loopback address",
    ipaddr.LINK_LOCAL: "a link-local address",
    ipaddr.MULTICAST: "a multicast address",
    ipaddr.BROADCAST: "the broadcast address",
    ipaddr.RESERVED: "a reserved address",
    ipaddr.PRIVATE: "a private address",
}


# -- the router's own networks -------------------------------------------

def router_networks(interfaces, lan_devices):
    """The prefixes no server address may fall in.

    interfaces: [(ifname, "address/length"), ...] as the router holds them
    (`ip -o addr show`). lan_devices: the names of the LAN-side devices.
    A LAN device contributes its whole prefix (every LAN host is the
    household's); any other interface only its own address (the WAN's
    neighbours, such as an upstream gateway, are not the router).
    Unparseable entries are skipped: they cannot match an address."""
    lans = {}
    for name in lan_devices:
        lans[name] = True
    networks = []
    for ifname, text in interfaces:
        ifname = ifname.split("@")[0]
        try:
            family, value, length = ipaddr.parse_prefix(text)
            if ifname not in lans:
                family, value = ipaddr.parse_address(text.split("/")[0])
                length = 32 if family == ipaddr.V4 else 128
        except ValueError:
            continue
        if (family, value, length) not in networks:
            networks.append((family, value, length))
    return networks


def _inside(family, value, networks):
    for prefix in networks:
        if ipaddr.prefix_contains(prefix, family, value):
            return ipaddr.format_prefix(*prefix)
    return None


# -- single values -------------------------------------------------------

def check_address(family, value, networks, kinds):
    """None if the address may be used, else why not (a phrase)."""
    text = ipaddr.format_address(family, value)
    net = _inside(family, value, networks)
    if net is not None:
        if net.endswith("/32") or net.endswith("/128"):
            return "%s is the router's own address" % text
        return "%s is inside the router's own network %s" % (text, net)
    kind = ipaddr.address_kind(family, value)
    if kind not in kinds:
        return "%s is %s" % (text, _KIND_TEXT.get(kind, kind))
    return None


def _address_text(text):
    # Only address characters reach ipaddr (int() takes '_', signs, Unicode digits).
    for ch in text:
        if ch not in "0123456789abcdefABCDEF.:":
            raise ValueError("%r is not an IP address" % text)
    return ipaddr.parse_address(text)


def endpoint_problem(text, networks, kinds=ENDPOINT_KINDS):
    """None or why `text` (host:port) is not a usable endpoint."""
    if not isinstance(text, str):
        return "not text"
    try:
        host, port, family = _endpoint(text)
    except ValueError as e:
        return "%r: %s" % (text, e)
    if family is None:
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):
            return "%r: %s names the router itself" % (text, host)
        return None
    why = check_address(family, _address_text(host)[1], networks, kinds)
    if why is not None:
        return "%r: %s" % (text, why)
    return None


def dns_problem(text, networks):
    """None or why `text` is not a usable DNS server address."""
    if not isinstance(text, str):
        return "not text"
    try:
        family, value = _address_text(text)
    except ValueError as e:
        return str(e)
    return check_address(family, value, networks, DNS_KINDS)


def _prefix_problem(text, family, networks):
    try:
        for ch in text:
            if ch not in "0123456789abcdefABCDEF.:/":
                raise ValueError("%r is not an address/length" % text)
        if "/" not in text:
            raise ValueError("%r has no /length" % text)
        got, _net, _length = ipaddr.parse_prefix(text)
        got, value = ipaddr.parse_address(text.split("/")[0])
    except ValueError as e:
        return str(e)
    if got != family:
        return "%r is not an IPv%d prefix" % (text, family)
    return check_address(family, value, networks, TUNNEL_KINDS)


# -- whole entries ---------------------------------------------------------

def _id_problem(sid):
    if not isinstance(sid, str) or not 1 <= len(sid) <= 32:
        return "must be 1 to 32 characters"
    for ch in sid:
        if ch not in _ID_CHARS:
            return "only a-z, 0-9 and - are allowed"
    return None


def _name(server):
    sid = server.get("id") if isinstance(server, dict) else None
    if isinstance(sid, str) and _id_problem(sid) is None:
        return sid
    return repr(sid)[:40]


def _dns_list_problem(dns, networks, least):
    if not isinstance(dns, list) or not least <= len(dns) <= MAX_DNS:
        return "must list %d to %d addresses" % (least, MAX_DNS)
    for item in dns:
        why = dns_problem(item, networks)
        if why is not None:
            return why
    return None


def server_problem(server, networks=()):
    """None, or "server ID: FIELD: what is wrong" for one entry of the
    provider's list (the first problem found)."""
    if not isinstance(server, dict):
        return "server %s: not an object" % _name(server)
    sid = server.get("id")
    checks = (
        ("id", _id_problem(sid)),
        ("endpoint", endpoint_problem(server.get("endpoint"), networks)),
        ("public_key", _key_problem(server.get("public_key"))),
        ("dns", _dns_list_problem(server.get("dns"), networks, 1)),
        ("ipv6", None if server.get("ipv6") in (True, False) else "must be true or false"),
        ("load", _load_problem(server.get("load"))),
    )
    for field, why in checks:
        if why is not None:
            return "server %s: %s: %s" % (_name(server), field, why)
    return None


def _key_problem(text):
    if not isinstance(text, str):
        return "not a WireGuard public key (base64 of 32 bytes)"
    try:
        decode_key(text)
    except ValueError:
        return "not a WireGuard public key (base64 of 32 bytes)"
    return None


def _load_problem(load):
    if load is True or load is False or not isinstance(load, int) or not 0 <= load <= 100:
        return "must be a whole number from 0 to 100"
    return None


def usable(servers, networks=()):
    """(kept, problems): the entries that pass server_problem() in their
    order, and one problem string per refused entry. A repeated id is
    refused too (the first one stays): ids name servers everywhere."""
    kept = []
    problems = []
    seen = {}
    for i in range(len(servers)):
        server = servers[i]
        if not isinstance(server, dict):
            problems.append("server #%d in the list: not an object" % (i + 1))
            continue
        why = server_problem(server, networks)
        if why is None and server["id"] in seen:
            why = "server %s: id: listed twice; the first entry is used" % server["id"]
        if why is not None:
            problems.append(why)
            continue
        seen[server["id"]] = True
        kept.append(server)
    return kept, problems


def own_problem(server, networks=()):
    """None or "FIELD: what" for the household's own server (the dict
    supervisor.own_server() makes from its file): the endpoint may be
    private, the DNS list may be empty."""
    why = endpoint_problem(server.get("endpoint"), networks, OWN_ENDPOINT_KINDS)
    if why is not None:
        return "Endpoint: %s" % why
    for item in server.get("dns") or ():
        why = dns_problem(item, networks)
        if why is not None:
            return "DNS: %s" % why
    return None


def addresses_problem(addresses, networks=()):
    """None or "FIELD: what" for the tunnel addresses of key registration."""
    if not isinstance(addresses, dict):
        return "addresses: not an object"
    v4 = addresses.get("ipv4")
    why = _prefix_problem(v4, ipaddr.V4, networks) if isinstance(v4, str) else "missing"
    if why is not None:
        return "ipv4: %s" % why
    v6 = addresses.get("ipv6")
    if v6 is not None:
        why = _prefix_problem(v6, ipaddr.V6, networks) if isinstance(v6, str) else "not text"
        if why is not None:
            return "ipv6: %s" % why
    return None

