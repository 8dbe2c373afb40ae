"""The household lab: a home network, its router, an ISP and VPN Spot gateways.

Owns: building the namespace topology below on a netns.Lab, the services in
it (gateway WireGuard, resolvers, the site's servers), the router's agent
config files, WAN captures, and `vpnspot lab up|down|status`.

    lan ---- router ------------------- wan ------------------ gw ------------ site
  eth0       lan0 in br-lan             rtr   bridge "inet"    eth0  site0     eth0
  .77.10     192.168.77.1               .100.1  203.0.113.1/25 .113.10  .129   203.0.113.130
  fd77:1::10 fd77:1::1                  fd77:100::1 fd77:113::1 fd77:113::10   fd77:200::80
             wan 198.51.100.2 fd77:100::2                       tunnel 10.77.0.1, fd77:77::1
                                                       \\------ gw2 203.0.113.20 (second gateway)

- `router` is the device under test: forwarding on, an OpenWrt-like
  masquerade on `wan` (table inet labfw4, standing in for fw4), routes into
  the lab only (203.0.113.0/24 and the lab's IPv6 prefixes via the WAN, as
  an ISP and its router advertisements would give it) and NO default route.
  Without the agent, a LAN packet to the site's prefix would leave plainly
  through the WAN: the leak the tests must prove we prevent.
- `router` also runs a resolver the way OpenWrt does: dnsmasq answering the
  LAN on 192.168.77.1 and fd77:1::1 and forwarding every name to the ISP's
  resolver over the WAN (no cache, so every LAN question that reaches it
  shows on the WAN). Only the boot guard (the package's own guard file,
  loaded by `fw4_reload` and `guard_sync`) or the agent's table keeps LAN
  names off that path.
- `wan` is the ISP: it routes between the router and the gateways and runs
  a stand-in ISP resolver (dnsmasq on 198.51.100.1) that answers
  site.vpnspot.test with 198.51.100.99, so a DNS answer tells which
  resolver gave it. It has no route to the site's subnet, and routes the
  tunnel prefixes to `gw` (whose tunnel traffic is not NATed), so the
  reference VPN Spot service run there sees a request sent through the
  tunnel come from the router's tunnel address (the connection check).
- `gw` is the VPN Spot gateway: wireguard-go on UDP 51820, routing tunnel
  traffic on to `site` without NAT (so the site sees the tunnel address)
  and dnsmasq on the tunnel address answering site.vpnspot.test with
  203.0.113.130 / fd77:200::80, and the provider API's name with the
  service's address (as VPN Spot's own resolvers know VPN Spot's names;
  the web UI's "DNS through the tunnel" check asks for it).
- `gw2` is a second gateway (wireguard-go only) for failover work; it
  masquerades tunnel traffic leaving it (the site stays behind `gw` only).
- More LAN networks, on request: `add_guest_network` (br-guest with a
  client namespace `guest`) and `vlan_lan` (the LAN on br-lan.1), for the
  tests that every LAN network is covered (tests/router/test_lan_networks.py).
- `site` knows routes only to the tunnel's addresses: it is reachable from
  the LAN only through the tunnel. It serves HTTP (answering with the client
  address it saw), echo on port 7 and a TCP echo on 853 (DoT stand-in).

Lab only; never packaged for the router.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

from . import netns
from . import pcap

LAN_CLIENT = "192.168.77.10"
LAN_CLIENT6 = "fd77:1::10"
ROUTER_LAN = "192.168.77.1"
ROUTER_LAN6 = "fd77:1::1"
ROUTER_WAN = "198.51.100.2"
ROUTER_WAN_ALT = "198.51.100.3"     # the address an ISP hands out after a change
ROUTER_WAN6 = "fd77:100::2"
ISP = "198.51.100.1"
ISP6 = "fd77:100::1"
INET = "203.0.113.1"
INET6 = "fd77:113::1"
GW = "203.0.113.10"
GW2 = "203.0.113.20"
GW_MOVED = "203.0.113.11"           # where the gateway moves to when its address changes
GW_PORT = 51820
GW_TUNNEL = "10.77.0.1"
GW_TUNNEL6 = "fd77:77::1"
ROUTER_TUNNEL = "10.77.0.2"
ROUTER_TUNNEL6 = "fd77:77::2"
SITE = "203.0.113.130"
SITE6 = "fd77:200::80"
SITE_NAME = "site.vpnspot.test"
API_NAME = "api.vpnspot.test"       # = provider_service.API_HOSTNAME (not imported: no crypto here)
ISP_ANSWER = "198.51.100.99"
# A second LAN-side network (add_guest_network): a guest Wi-Fi stand-in on
# its own bridge, in the upper half of the LAN's /24 (the more specific
# /25 on br-guest wins over br-lan's /24 on the router).
GUEST_CLIENT = "192.168.77.140"
ROUTER_GUEST = "192.168.77.129"
GUEST_CLIENT6 = "fd77:2::10"
ROUTER_GUEST6 = "fd77:2::1"
TUNNEL_IFNAME = "vpnspot0"

# Where `lab up` records the lab it keeps; the environment override lets a
# test cycle up/down without touching a developer's running lab.
STATE_FILE = os.environ.get("VPNSPOT_LAB_STATE") or os.path.join(netns.MARKER_DIR, "household.json")
EXTRA_TOOLS = ("nft", "tcpdump", "dnsmasq")
# The package's boot guard, as fw4 includes it on a router (source checkout).
GUARD_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "firmware_pkg", "package", "vpnspot", "files", "vpnspot.nft")


def missing_tools():
    return netns.missing_tools(netns.REQUIRED_TOOLS + EXTRA_TOOLS)


class Household:
    """The topology above, built on a Lab; the agent is not started here."""

    def __init__(self, lab, gateway_keepalive=None):
        missing = missing_tools()
        if missing:
            raise netns.LabError("missing tools: %s; run `bash vpnspot_router/lab/setup.sh` as root"
                                 % ", ".join(missing))
        self.lab = lab
        self.agent = None
        self.run_dir = os.path.join(lab.tmpdir, "run")
        os.makedirs(self.run_dir, exist_ok=True)
        for role in ("lan", "router", "wan", "gw", "gw2", "site"):
            lab.add_ns(role)
            # No duplicate address detection: link-local addresses would
            # stay "tentative" for a second and IPv6 forwarding through the
            # lab would fail at random in that window.
            lab.sysctl(role, "net.ipv6.conf.default.accept_dad", 0)
            lab.sysctl(role, "net.ipv6.conf.all.accept_dad", 0)
        self._links()
        self._routes()
        self._router_firewall()
        self._gateways(gateway_keepalive)
        self._services()
        self._agent_files()

    # ------------------------------------------------------------ building
    def _client_bridge(self, client_ns, port, bridge, client, router, prefix):
        """A LAN-side network: CLIENT_NS's eth0 linked to PORT on the router,
        PORT in a new bridge BRIDGE that holds the router's addresses.
        client and router are (IPv4, IPv6) pairs; PREFIX the IPv4 length."""
        lab = self.lab
        lab.add_link(client_ns, "router", client[0] + prefix, None, client[1] + "/64", None,
                     ifname_a="eth0", ifname_b=port)
        for cmd in (["ip", "link", "add", bridge, "type", "bridge", "forward_delay", "0"],
                    ["ip", "link", "set", port, "master", bridge],
                    ["ip", "link", "set", bridge, "up"]):
            lab.run("router", *cmd)
        lab.add_address("router", bridge, router[0] + prefix)
        lab.add_address("router", bridge, router[1] + "/64")

    def _links(self):
        lab = self.lab
        self._client_bridge("lan", "lan0", "br-lan", (LAN_CLIENT, LAN_CLIENT6),
                            (ROUTER_LAN, ROUTER_LAN6), "/24")
        self.wan_link = lab.add_link("router", "wan", ROUTER_WAN + "/24", ISP + "/24",
                                     ROUTER_WAN6 + "/64", ISP6 + "/64", ifname_a="wan", ifname_b="rtr")
        lab.run("wan", "ip", "link", "add", "inet", "type", "bridge", "forward_delay", "0")
        lab.run("wan", "ip", "link", "set", "inet", "up")
        lab.add_address("wan", "inet", INET + "/25")
        lab.add_address("wan", "inet", INET6 + "/64")
        for role, addr, addr6, port in (("gw", GW, "fd77:113::10", "gwp"),
                                        ("gw2", GW2, "fd77:113::20", "gw2p")):
            lab.add_link(role, "wan", addr + "/25", None, addr6 + "/64", None,
                         ifname_a="eth0", ifname_b=port)
            lab.run("wan", "ip", "link", "set", port, "master", "inet")
        lab.add_link("gw", "site", "203.0.113.129/25", SITE + "/25", "fd77:200::1/64", SITE6 + "/64",
                     ifname_a="site0", ifname_b="eth0")

    def _routes(self):
        lab = self.lab
        for dest in ("198.51.100.0/24", "203.0.113.0/24", "10.77.0.0/24"):
            lab.add_route("lan", dest, via=ROUTER_LAN)
        lab.add_route("lan", "fd77::/16", via=ROUTER_LAN6)
        self.router_wan_routes()
        for ns in ("router", "wan", "gw", "gw2"):
            lab.enable_forwarding(ns)
        for ns in ("gw", "gw2"):
            lab.add_route(ns, "198.51.100.0/24", via=INET)
            lab.add_route(ns, "fd77:100::/64", via=INET6)
        # The internet side knows the tunnel prefix behind the first gateway
        # (no NAT there, as for the site): the VPN Spot service in `wan`
        # answers a connection check from the router's tunnel address.
        lab.add_route("wan", "10.77.0.0/24", via=GW)
        lab.add_route("wan", "fd77:77::/64", via="fd77:113::10")
        # The second gateway hands out the same tunnel addresses, so it
        # masquerades what leaves it toward the internet side, as a VPN
        # gateway in production does: after a failover the service sees
        # gw2's own address (a VPN Spot address) and can answer it.
        lab.run("gw2", "nft", "-f", "-", input=(
            "table inet labnat {\n"
            "  chain srcnat { type nat hook postrouting priority srcnat; policy accept;\n"
            "    oifname \"eth0\" ip saddr 10.77.0.0/24 masquerade\n"
            "    oifname \"eth0\" ip6 saddr fd77:77::/64 masquerade\n  }\n}\n"))
        lab.add_route("site", "10.77.0.0/24", via="203.0.113.129")
        lab.add_route("site", "fd77:77::/64", via="fd77:200::1")

    def router_wan_routes(self):
        """What the ISP's DHCP and router advertisements give the router:
        routes into the lab through the WAN (never a default route). Also
        called again after a WAN flap, as netifd would."""
        for dest, via in (("203.0.113.0/24", ISP), ("fd77:113::/64", ISP6), ("fd77:200::/64", ISP6)):
            argv = ["ip", "route", "replace", dest, "via", via, "dev", "wan"]
            if ":" in dest:
                argv.insert(1, "-6")
            self.lab.run("router", *argv)

    def _router_firewall(self):
        # OpenWrt's fw4 masquerades everything leaving through the WAN zone;
        # the lab router does the same so that a leak looks as it would on a
        # real router (from the router's WAN address).
        # Replaced whole, as fw4 replaces its table: a reload adds no copy.
        self.lab.run("router", "nft", "-f", "-", input=(
            "table inet labfw4 {}\ndelete table inet labfw4\ntable inet labfw4 {\n"
            "  chain srcnat { type nat hook postrouting priority srcnat; policy accept;\n"
            "    oifname \"wan\" masquerade\n  }\n}\n"))

    def _gateways(self, keepalive):
        lab = self.lab
        self.router_key = netns.wg_genkey()
        self.router_pub = netns.wg_pubkey(self.router_key)
        peer = {"public_key": self.router_pub,
                "allowed_ips": [ROUTER_TUNNEL + "/32", ROUTER_TUNNEL6 + "/128"]}
        if keepalive:
            peer["persistent_keepalive"] = keepalive
        self.gw = lab.start_wireguard_go("gw", "g0", netns.wg_genkey(), listen_port=GW_PORT,
                                         address_cidrs=[GW_TUNNEL + "/24", GW_TUNNEL6 + "/64"],
                                         peers=[dict(peer)])
        self.gw2 = lab.start_wireguard_go("gw2", "g2", netns.wg_genkey(), listen_port=GW_PORT,
                                          address_cidrs=[GW_TUNNEL + "/24", GW_TUNNEL6 + "/64"],
                                          peers=[dict(peer)])

    def _dnsmasq(self, ns, listen, answers, more=(), upstream=()):
        argv = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--bind-dynamic", "--user=root", "--group=root",
                "--pid-file=" + os.path.join(self.lab.tmpdir, "dnsmasq-%s.pid" % ns)]
        argv += ["--listen-address=" + a for a in listen]
        # A forwarder (the router's): every question goes upstream, none
        # answered from a cache, so a capture sees each one that leaks.
        argv += ["--server=" + a for a in upstream] + (["--cache-size=0"] if upstream else [])
        argv += ["--address=/%s/%s" % (SITE_NAME, a) for a in answers]
        argv += ["--address=/%s/%s" % (name, a) for name, a in more]
        return self.lab.popen(ns, argv)

    def _services(self):
        lab = self.lab
        self.gw_dns = self._dnsmasq("gw", [GW_TUNNEL, GW_TUNNEL6], [SITE, SITE6],
                                    more=[(API_NAME, INET)])
        self.isp_dns = self._dnsmasq("wan", [ISP], [ISP_ANSWER])
        self.router_dns = self._dnsmasq("router", [ROUTER_LAN, ROUTER_LAN6], [], upstream=[ISP])
        self.site = lab.popen("site", [sys.executable, "-m", "vpnspot_router.lab.services", "site"])
        netns.wait_for(lambda: self._listening("site", ":80 ") and self._listening("gw", ":53 ")
                       and self._listening("wan", ":53 ") and self._listening("router", ":53 "),
                       timeout=10, what="the site's HTTP server and the resolvers")

    def _listening(self, ns, needle):
        for proc in (getattr(self, "site", None), self.gw_dns, self.isp_dns,
                     getattr(self, "router_dns", None)):
            if proc is not None and proc.poll() is not None:
                raise netns.LabError("a lab service exited:\n" + self.lab.read_log(proc))
        out = self.lab.run(ns, "ss", "-ltnH", check=False).stdout
        return needle in out

    def _agent_files(self):
        self.wg_config = os.path.join(self.lab.tmpdir, "vpnspot.conf")
        self.settings = os.path.join(self.lab.tmpdir, "settings")
        self.write_wg_config()
        self.write_settings()

    def write_wg_config(self, endpoint=None, ipv6=True, keepalive=None):
        addresses = [ROUTER_TUNNEL + "/32"] + ([ROUTER_TUNNEL6 + "/128"] if ipv6 else [])
        dns = [GW_TUNNEL] + ([GW_TUNNEL6] if ipv6 else [])
        allowed = ["0.0.0.0/0"] + (["::/0"] if ipv6 else [])
        lines = ["[Interface]", "PrivateKey = " + self.router_key,
                 "Address = " + ", ".join(addresses), "DNS = " + ", ".join(dns), "",
                 "[Peer]", "PublicKey = " + self.gw.public_key,
                 "Endpoint = %s" % (endpoint or "%s:%d" % (GW, GW_PORT)),
                 "AllowedIPs = " + ", ".join(allowed)]
        if keepalive:
            lines.append("PersistentKeepalive = %d" % keepalive)
        _write(self.wg_config, "\n".join(lines) + "\n", 0o600)

    def write_settings(self, **values):
        settings = {"kill_switch": "on", "dns": "tunnel", "ipv6": "auto", "mtu": "auto",
                    "lan": "br-lan", "wan": "wan", "tunnel": TUNNEL_IFNAME}
        settings.update(values)
        _write(self.settings, "# written by the household lab\n"
               + "".join("%s = %s\n" % kv for kv in settings.items()))

    # ---------------------------------------------------------- boot guard
    def fw4_reload(self, state_dir):
        """What a firewall start or reload does on OpenWrt, as far as the lab
        has it: fw4's own table (labfw4 here), then its ruleset-post include,
        the package's guard file, whose guard.d include reads
        STATE_DIR/guard.d (on a router /etc/vpnspot/guard.d)."""
        self._router_firewall()
        with open(GUARD_FILE) as f:
            text = f.read().replace("/etc/vpnspot/guard.d", os.path.join(state_dir, "guard.d"))
        path = os.path.join(self.lab.tmpdir, "90-vpnspot.nft")
        _write(path, text)
        self.lab.run("router", "nft", "-f", path)

    def guard_sync(self, config_dir, state_dir, lan=("br-lan",), check=True):
        """`vpnspot guard sync` as the init script runs it, over the router's
        settings in config_dir and state_dir."""
        argv = ["guard", "sync", "--config-dir", config_dir, "--state-dir", state_dir,
                "--guard-file", GUARD_FILE, "--run-dir", self.run_dir]
        for dev in lan:
            argv += ["--lan", dev]
        proc = self.vpnspot(*argv)
        if check and proc.returncode != 0:
            raise netns.LabError("vpnspot guard sync failed (%d):\n%s%s"
                                 % (proc.returncode, proc.stdout, proc.stderr))
        return proc

    def guard_status(self):
        """The loaded guard: {"loaded", "dns_guard", "lan_devices"}."""
        return json.loads(self.vpnspot("guard", "status", "--json").stdout)

    # -------------------------------------------------------------- agent
    def vpnspot(self, *args, check=False, timeout=30):
        """Run a `vpnspot` command inside the router namespace."""
        return self.lab.run("router", sys.executable, "-m", "vpnspot_router", *args,
                            check=check, timeout=timeout)

    def start_agent(self, timing=None, wait_handshake=True, env=None):
        """`env`: more environment for the agent, e.g. the data plane's
        offload switches (tunnel/offload.py)."""
        env = dict(os.environ, **(env or {}))
        if timing:
            env["VPNSPOT_WG_TIMING"] = ",".join("%s=%s" % kv for kv in sorted(timing.items()))
        self.agent = self.lab.popen("router", [sys.executable, "-m", "vpnspot_router", "agent",
                                               "--wg-config", self.wg_config, "--settings",
                                               self.settings, "--run-dir", self.run_dir], env=env)
        netns.wait_for(self._tunnel_exists, timeout=15, what="the agent's tunnel interface")
        if wait_handshake:
            self.wait_connected()
        return self.agent

    def _tunnel_exists(self):
        if self.agent.poll() is not None:
            raise netns.LabError("the agent exited with %s:\n%s"
                                 % (self.agent.returncode, self.lab.read_log(self.agent)))
        out = self.lab.run("router", "ip", "-o", "addr", "show", "dev", TUNNEL_IFNAME, check=False)
        return out.returncode == 0 and ROUTER_TUNNEL in out.stdout

    def wait_connected(self, timeout=15):
        """Send traffic from the LAN until a page from the site arrives."""
        return netns.wait_for(lambda: self.http_from_lan(timeout=1.0).get("ok"), timeout=timeout,
                              interval=0.2, what="a page from the site through the tunnel")

    def agent_log(self):
        return self.lab.read_log(self.agent) if self.agent else ""

    def status(self):
        proc = self.vpnspot("status", "--json", "--run-dir", self.run_dir)
        return json.loads(proc.stdout)

    # ---------------------------------------------------------- LAN probes
    def lan_probe(self, *args, timeout=15):
        proc = self.lab.run("lan", sys.executable, "-m", "vpnspot_router.lab.services", *args,
                            check=False, timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return {"ok": False, "error": "probe printed %r; stderr %r" % (proc.stdout, proc.stderr)}

    def http_from_lan(self, host=SITE, timeout=3.0):
        return self.lan_probe("http", host, timeout=timeout + 10)

    def ping_from_lan(self, addr, count=2):
        argv = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1"]
        if ":" in addr:
            argv.append("-6")
        return self.lab.run("lan", *argv, addr, check=False).returncode == 0

    def start_probe(self, host=SITE, port=7, interval=0.05):
        """A LAN client streaming UDP echo requests at `host` (see
        services.udp_probe); returns a Probe."""
        proc = self.lab.popen("lan", [sys.executable, "-m", "vpnspot_router.lab.services", "udpprobe",
                                      host, port, interval])
        netns.wait_for(lambda: "READY" in self.lab.read_log(proc), timeout=10, what="the LAN probe")
        return Probe(self.lab, proc)

    # ------------------------------------------------------------ capture
    def move_gateway(self, new=GW_MOVED):
        """The VPN Spot gateway changes its public address: the old one is
        removed, then the new one added, so only the new address answers and
        the router can find it only by looking its name up again."""
        # Old address first, then a pause: meanwhile the gateway has no IPv4
        # address or route on the WAN, so a reply to a request that reached it
        # just before the move is dropped. Added first, the new address would
        # carry that reply, and WireGuard's roaming would move the router to
        # it without any lookup (seen in CI, 1 run in many).
        self.lab.run("gw", "ip", "addr", "del", GW + "/25", "dev", "eth0")
        time.sleep(0.3)
        self.lab.add_address("gw", "eth0", new + "/25")
        self.lab.run("gw", "ip", "route", "replace", "198.51.100.0/24", "via", INET)

    def start_capture(self, name="wan", api=(), endpoints=()):
        """api: the provider API's (address, port)s, whose TCP is the
        router's own and counted apart (pcap.classify); endpoints: gateway
        (address, port)s besides GW and GW2 whose WireGuard is allowed."""
        path = os.path.join(self.lab.tmpdir, "%s-%d.pcap" % (name, int(time.monotonic() * 1000)))
        proc = self.lab.popen("router", ["tcpdump", "--immediate-mode", "-U", "-n", "-s", "256",
                                          "-i", "wan", "-w", path])
        netns.wait_for(lambda: os.path.exists(path) and os.path.getsize(path) >= 24, timeout=10,
                       what="tcpdump on the router's WAN to start")
        # --immediate-mode: without it libpcap hands packets over per ring
        # block (up to a second late) and a stop loses the tail. tcpdump
        # opens the interface before the file; the pause covers its setup.
        time.sleep(0.3)
        return Capture(self, proc, path, api, endpoints)

    # ------------------------------------------------------- WAN changes
    def wan_down(self):
        self.lab.run("router", "ip", "link", "set", "wan", "down")

    def wan_up(self):
        """Link up, then what netifd does: the kernel drops a link's IPv6
        addresses when it goes down (keep_addr_on_down=0), so re-add it,
        then the routes."""
        self.lab.run("router", "ip", "link", "set", "wan", "up")
        self.lab.run("router", "ip", "-6", "addr", "replace", ROUTER_WAN6 + "/64", "dev", "wan", "nodad")
        self.router_wan_routes()

    def learn_ipv6_from_router_advertisements(self, interval=0.5):
        """IPv6 on the WAN the way an ISP really gives it: the router's WAN
        accepts router advertisements while forwarding (accept_ra=2, as
        OpenWrt's odhcp6c/netifd set up a WAN), the lab's static IPv6 routes
        are removed, and `wan` sends real RAs (prefix fd77:100::/64 for
        SLAAC, default-router lifetime 1800 s) every `interval` seconds.
        Returns (default route line, SLAAC address) once the kernel has
        learned both from the advertisements."""
        lab = self.lab
        lab.sysctl("router", "net.ipv6.conf.wan.accept_ra", 2)
        lab.sysctl("router", "net.ipv6.conf.wan.autoconf", 1)
        for dest in ("fd77:113::/64", "fd77:200::/64"):
            lab.run("router", "ip", "-6", "route", "del", dest, check=False)
        self.ra_sender = lab.popen("wan", [sys.executable, "-m", "vpnspot_router.lab.services", "ra",
                                           "rtr", "fd77:100::/64", 1800, interval])

        def learned():
            if self.ra_sender.poll() is not None:
                raise netns.LabError("the RA sender exited:\n" + lab.read_log(self.ra_sender))
            route = lab.run("router", "ip", "-6", "route", "show", "default", check=False).stdout
            addrs = lab.run("router", "ip", "-6", "-o", "addr", "show", "dev", "wan", "scope", "global",
                            "dynamic", check=False).stdout
            slaac = re.findall(r"inet6 (fd77:100::[0-9a-f:]+)/64", addrs)
            if "proto ra" in route and slaac:
                return route.strip(), slaac[0]
            return None
        return netns.wait_for(learned, timeout=10, interval=0.1,
                              what="the router to learn a default route and an address from RAs")

    # ------------------------------------------------- more LAN networks
    def add_guest_network(self):
        """A guest network as OpenWrt's guest Wi-Fi recipe makes it: the
        router's own bridge br-guest (192.168.77.129/25, fd77:2::1/64) with
        one client in namespace `guest` (192.168.77.140, fd77:2::10).
        Nothing protects it until the agent or the guard is told about it."""
        lab = self.lab
        lab.add_ns("guest")
        lab.sysctl("guest", "net.ipv6.conf.default.accept_dad", 0)
        lab.sysctl("guest", "net.ipv6.conf.all.accept_dad", 0)
        self._client_bridge("guest", "guest0", "br-guest", (GUEST_CLIENT, GUEST_CLIENT6),
                            (ROUTER_GUEST, ROUTER_GUEST6), "/25")
        for dest in ("198.51.100.0/24", "203.0.113.0/24", "10.77.0.0/24"):
            lab.add_route("guest", dest, via=ROUTER_GUEST)
        lab.add_route("guest", "fd77::/16", via=ROUTER_GUEST6)
        # The router's resolver answers on its LAN address, as dnsmasq does
        # for every LAN-side network on OpenWrt.
        lab.add_route("guest", ROUTER_LAN + "/32", via=ROUTER_GUEST)

    def vlan_lan(self):
        """The LAN as a VLAN-filtering DSA router has it: br-lan filters
        VLANs, its LAN port carries VLAN 1 untagged, the bridge itself
        takes VLAN 1 tagged, and the router's LAN addresses sit on the VLAN
        device br-lan.1 (netifd's l3_device); br-lan itself has no address.
        A kernel without bridge VLAN filtering or 802.1Q (this lab's CI
        kernel has neither) gets the stand-in the router's rules cannot
        tell apart: the LAN port in a bridge named br-lan.1 holding the
        addresses, br-lan left up and empty. Either way LAN packets arrive
        on br-lan.1 and none on br-lan. Returns "vlan" or "stand-in"."""
        lab = self.lab
        real = lab.run("router", "ip", "link", "set", "br-lan", "type", "bridge",
                       "vlan_filtering", "1", check=False).returncode == 0
        if real:
            real = lab.run("router", "ip", "link", "add", "link", "br-lan", "name", "br-lan.1",
                           "type", "vlan", "id", "1", check=False).returncode == 0
        if real:
            cmds = (["bridge", "vlan", "add", "dev", "lan0", "vid", "1", "pvid", "untagged"],
                    ["bridge", "vlan", "del", "dev", "br-lan", "vid", "1", "self"],
                    ["bridge", "vlan", "add", "dev", "br-lan", "vid", "1", "self"])
        else:
            lab.run("router", "ip", "link", "set", "br-lan", "type", "bridge", "vlan_filtering", "0",
                    check=False)
            cmds = (["ip", "link", "add", "br-lan.1", "type", "bridge", "forward_delay", "0"],
                    ["ip", "link", "set", "lan0", "master", "br-lan.1"])
        for cmd in cmds + (["ip", "addr", "flush", "dev", "br-lan", "scope", "global"],
                           ["ip", "link", "set", "br-lan.1", "up"]):
            lab.run("router", *cmd)
        lab.add_address("router", "br-lan.1", ROUTER_LAN + "/24")
        lab.add_address("router", "br-lan.1", ROUTER_LAN6 + "/64")
        return "vlan" if real else "stand-in"

    def client_probe(self, ns, *args, timeout=15):
        """lan_probe from another client namespace (e.g. `guest`)."""
        proc = self.lab.run(ns, sys.executable, "-m", "vpnspot_router.lab.services", *args,
                            check=False, timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except ValueError:
            return {"ok": False, "error": "probe printed %r; stderr %r" % (proc.stdout, proc.stderr)}

    def change_wan_address(self, new=ROUTER_WAN_ALT):
        self.lab.run("router", "ip", "addr", "flush", "dev", "wan", "scope", "global")
        self.lab.add_address("router", "wan", new + "/24")
        self.lab.add_address("router", "wan", ROUTER_WAN6 + "/64")
        self.router_wan_routes()


class Probe:
    def __init__(self, lab, proc):
        self.lab = lab
        self.proc = proc

    def _replies(self):
        """(received, sent) wall-clock times of the echo replies so far."""
        out = []
        for line in self.lab.read_log(self.proc).splitlines():
            fields = line.split()
            if len(fields) == 4 and fields[0] == "REPLY":
                out.append((float(fields[1]), float(fields[3])))
        return out

    def replies(self):
        """Wall-clock times of the echo replies received so far."""
        return [received for received, _ in self._replies()]

    def first_reply_after(self, t):
        """When the first reply to a request sent after `t` came back, or
        None. By send time: a reply to an earlier request may still be read
        after `t` (the probe polls its socket), and proves nothing about
        the path after `t`."""
        later = [received for received, sent in self._replies() if sent > t]
        return later[0] if later else None

    def wait_reply_after(self, t, timeout):
        """Seconds from `t` (a time.time() value) to the first reply to a
        request sent after it; raises LabError if none arrives within
        `timeout`."""
        reply = netns.wait_for(lambda: self.first_reply_after(t), timeout=timeout, interval=0.05,
                               what="an echo reply through the tunnel")
        return reply - t

    def stop(self):
        self.lab.stop_process(self.proc)


class Capture:
    def __init__(self, household, proc, path, api=(), endpoints=()):
        self.api = tuple(api)
        self.extra_endpoints = set(endpoints)
        self.household = household
        self.proc = proc
        self.path = path
        self.tally = None

    def stop(self):
        """Stop tcpdump and classify what it saw; returns the tally."""
        if self.tally is None:
            time.sleep(0.2)
            self.household.lab.stop_process(self.proc)
            log = self.household.lab.read_log(self.proc)
            m = re.search(r"(\d+) packets dropped by kernel", log)
            if m is None or int(m.group(1)) != 0:
                # A capture with holes cannot prove that nothing leaked.
                raise netns.LabError("WAN capture incomplete:\n" + log)
            endpoints = {(GW, GW_PORT), (GW2, GW_PORT)} | self.extra_endpoints
            self.tally = pcap.classify(pcap.read_pcap(self.path), endpoints, self.api)
        return self.tally


def _write(path, text, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)


# -------------------------------------------------------------------------
# `vpnspot lab up|down|status`: one household lab kept by a background
# keeper process, so the namespaces outlive the command that made them and
# the netns marker (creator pid) stays valid while the lab is up.

def _read_state():
    try:
        with open(STATE_FILE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _keeper():
    """Build the lab, publish its state, hold it until SIGTERM."""
    stop = []
    signal.signal(signal.SIGTERM, lambda s, f: stop.append(s))
    signal.signal(signal.SIGINT, lambda s, f: stop.append(s))
    with netns.Lab() as lab:
        house = Household(lab)
        state = {"keeper_pid": os.getpid(), "prefix": lab.prefix, "namespaces": lab.namespaces,
                 "wg_config": house.wg_config, "settings": house.settings, "run_dir": house.run_dir,
                 "gateway": "%s:%d" % (GW, GW_PORT), "site": SITE}
        _write(STATE_FILE + ".tmp", json.dumps(state, indent=1) + "\n")
        os.replace(STATE_FILE + ".tmp", STATE_FILE)
        while not stop:
            signal.pause()
    try:
        os.unlink(STATE_FILE)
    except OSError:
        pass
    return 0


def _remove_dead_lab(state):
    if not state or netns.pid_alive(state.get("keeper_pid", 0)):
        return []
    prefix = state.get("prefix", "")
    if not netns.PREFIX_RE.fullmatch(prefix):
        return []
    removed = []
    for ns in netns.list_namespaces():
        if ns.startswith(prefix):
            netns._delete_namespace(ns)
            removed.append(ns)
    netns._remove_sockets(prefix)
    try:
        os.unlink(os.path.join(netns.MARKER_DIR, prefix))
    except OSError:
        pass
    return removed


def lab_up(out=sys.stdout):
    state = _read_state()
    if state and netns.pid_alive(state["keeper_pid"]):
        print("lab already up (keeper pid %d)" % state["keeper_pid"], file=out)
        return lab_status(out)
    # Leftovers of a lab whose keeper died (crash, kill -9). sweep_stale()
    # alone is not enough: a dead keeper may linger as a zombie, which the
    # marker check counts as alive, so its recorded prefix is removed here.
    removed = _remove_dead_lab(state) + netns.sweep_stale()
    if removed:
        print("removed stale namespaces: " + " ".join(removed), file=out)
    try:
        os.unlink(STATE_FILE)
    except OSError:
        pass
    os.makedirs(netns.MARKER_DIR, exist_ok=True)
    log_path = STATE_FILE + ".log"
    with open(log_path, "wb") as log:
        keeper = subprocess.Popen([sys.executable, "-m", "vpnspot_router.lab.topology", "keep"],
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = _read_state()
        if state and state["keeper_pid"] == keeper.pid:
            return lab_status(out)
        if keeper.poll() is not None:
            with open(log_path, errors="replace") as f:
                print("error: building the lab failed:\n" + f.read()[-3000:], file=sys.stderr)
            return 1
        time.sleep(0.1)
    print("error: the lab was not ready within 60 s; see %s" % log_path, file=sys.stderr)
    return 1


def lab_down(out=sys.stdout):
    state = _read_state()
    if state and netns.pid_alive(state["keeper_pid"]):
        os.kill(state["keeper_pid"], signal.SIGTERM)
        try:
            netns.wait_for(lambda: not netns.pid_alive(state["keeper_pid"]), timeout=30,
                           what="the lab keeper to tear the lab down")
        except netns.LabError:
            os.kill(state["keeper_pid"], signal.SIGKILL)
    removed = _remove_dead_lab(state) + netns.sweep_stale()
    try:
        os.unlink(STATE_FILE)
    except OSError:
        pass
    print("lab down" + (" (also removed %s)" % " ".join(removed) if removed else ""), file=out)
    return 0


def lab_status(out=sys.stdout):
    state = _read_state()
    if not state or not netns.pid_alive(state["keeper_pid"]):
        print("lab down", file=out)
        return 3
    present = set(netns.list_namespaces())
    print("lab up (keeper pid %d, prefix %s)" % (state["keeper_pid"], state["prefix"]), file=out)
    for role, name in sorted(state["namespaces"].items()):
        print("  %-7s %s%s" % (role, name, "" if name in present else "  MISSING"), file=out)
    print("  gateway %s, site %s" % (state["gateway"], state["site"]), file=out)
    print("  start the agent:  ip netns exec %s %s -m vpnspot_router agent --wg-config %s "
          "--settings %s --run-dir %s" % (state["namespaces"]["router"], sys.executable,
                                          state["wg_config"], state["settings"], state["run_dir"]),
          file=out)
    return 0 if all(n in present for n in state["namespaces"].values()) else 1


LAB_USAGE = "usage: vpnspot lab up|down|status"


def main(argv):
    if any(a in ("-h", "--help") for a in argv):
        print(LAB_USAGE + "\n\n  up      build the namespace lab\n"
              "  down    remove it\n  status  show what is running")
        return 0
    if os.geteuid() != 0:
        print("error: the namespace lab needs root", file=sys.stderr)
        return 2
    missing = missing_tools()
    if missing:
        print("error: missing tools: %s; run `bash vpnspot_router/lab/setup.sh` as root"
              % ", ".join(missing), file=sys.stderr)
        return 2
    commands = {"up": lab_up, "down": lab_down, "status": lab_status}
    if argv == ["keep"]:
        return _keeper()
    if len(argv) != 1 or argv[0] not in commands:
        print(LAB_USAGE, file=sys.stderr)
        return 2
    return commands[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
