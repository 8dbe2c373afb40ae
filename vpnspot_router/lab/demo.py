"""`vpnspot lab demo`: the agent's tunnel against a reference gateway, with proof.

Builds two namespaces on this machine and nothing outside them:

    router (the agent: vpnspot tunnel up)  --veth--  gw (wireguard-go, the reference gateway)
      WAN 198.51.100.2                                 WAN 198.51.100.1, UDP 51820
      tunnel 10.77.0.2, fd77:77::2                     tunnel 10.77.0.1, fd77:77::1

then shows, step by step: the handshake, pings both ways over IPv4 and IPv6
inside the tunnel, a checksum-verified TCP transfer, and two captures taken
at the gateway - one on the wire, one inside the tunnel - proving that a
marker sent through the tunnel is readable inside it and absent on the wire,
where only WireGuard UDP to port 51820 appears. Exit status 0 when every
claim held, 1 otherwise. Everything is removed at the end.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from . import netns

ROUTER_WAN = "198.51.100.2"
GW_WAN = "198.51.100.1"
GW_PORT = 51820
MARKER = b"VPNSPOT-DEMO-MARKER-7f3a"


class Narrator:
    """What a demo prints (`say`) and the claims it checks (`claim`), each
    shown PASS or FAIL and kept for the result line. Sets self.out and
    self.claims."""

    def __init__(self, out):
        self.out = out
        self.claims = []

    def say(self, text=""):
        print(text, file=self.out, flush=True)

    def claim(self, ok, text):
        self.claims.append((ok, text))
        self.say("  [%s] %s" % ("PASS" if ok else "FAIL", text))
        return ok


class Demo(Narrator):
    def __init__(self, lab, megabytes, out=sys.stdout):
        Narrator.__init__(self, out)
        self.lab = lab
        self.megabytes = megabytes

    def build(self):
        lab = self.lab
        self.say("1. Lab: namespaces 'router' (the agent) and 'gw' (wireguard-go gateway)")
        lab.add_ns("router")
        lab.add_ns("gw")
        self.link = lab.add_link("router", "gw", ROUTER_WAN + "/24", GW_WAN + "/24")
        self.router_key = netns.wg_genkey()
        self.router_pub = netns.wg_pubkey(self.router_key)
        self.gw = lab.start_wireguard_go(
            "gw", "g0", netns.wg_genkey(), listen_port=GW_PORT,
            address_cidrs=["10.77.0.1/24", "fd77:77::1/64"],
            peers=[{"public_key": self.router_pub, "allowed_ips": ["10.77.0.2/32", "fd77:77::2/128"]}])
        self.say("   gateway %s listening on %s:%d, public key %s"
                 % (self.gw.ifname, GW_WAN, GW_PORT, self.gw.public_key))
        conf = os.path.join(lab.tmpdir, "router.conf")
        with open(conf, "w") as f:
            f.write("[Interface]\nPrivateKey = %s\nAddress = 10.77.0.2/24, fd77:77::2/64\n\n"
                    "[Peer]\nPublicKey = %s\nEndpoint = %s:%d\nAllowedIPs = 10.77.0.0/24, fd77:77::/64\n"
                    % (self.router_key, self.gw.public_key, GW_WAN, GW_PORT))
        self.status_file = os.path.join(lab.tmpdir, "status.json")
        self.wire_pcap = os.path.join(lab.tmpdir, "wire.pcap")
        self.tunnel_pcap = os.path.join(lab.tmpdir, "tunnel.pcap")
        # Captures start before the agent so the handshake is on them too.
        self.captures = [
            lab.popen("gw", ["tcpdump", "-U", "-n", "-i", self.link.ifname_b, "-w", self.wire_pcap]),
            lab.popen("gw", ["tcpdump", "-U", "-n", "-i", self.gw.ifname, "-w", self.tunnel_pcap]),
        ]
        netns.wait_for(lambda: all(os.path.exists(p) for p in (self.wire_pcap, self.tunnel_pcap)),
                       timeout=10, what="tcpdump to start")
        self.ifname = lab.wg_ifname("t0")
        self.agent = lab.popen("router", [sys.executable, "-m", "vpnspot_router", "tunnel", "up", conf,
                                          "--ifname", self.ifname, "--status-file", self.status_file])
        self.started = time.monotonic()
        netns.wait_for(self._agent_up, timeout=15, what="the agent's tunnel interface")
        self.say("   agent running 'vpnspot tunnel up' on %s (pid %d)" % (self.ifname, self.agent.pid))

    def _agent_up(self):
        if self.agent.poll() is not None:
            raise netns.LabError("the agent exited:\n" + self.lab.read_log(self.agent))
        return os.path.exists(self.status_file)

    def ping(self, ns, addr, count=3):
        argv = ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "2"]
        if ":" in addr:
            argv.append("-6")
        return self.lab.run(ns, *argv, addr, check=False).returncode == 0

    def handshake(self):
        self.say("2. Handshake (the agent initiates on the first packet)")
        ok = self.ping("router", "10.77.0.1", count=1)
        took = time.monotonic() - self.started
        peer = self.gw.show().peers[self.router_pub]
        self.claim(ok and peer.latest_handshake > 0,
                   "wireguard-go accepted our handshake (latest handshake %s, %.2f s after start)"
                   % (time.strftime("%H:%M:%S", time.localtime(peer.latest_handshake))
                      if peer.latest_handshake else "never", took))

    def pings(self):
        self.say("3. Traffic both ways inside the tunnel")
        for ns, addr in (("router", "10.77.0.1"), ("gw", "10.77.0.2"),
                         ("router", "fd77:77::1"), ("gw", "fd77:77::2")):
            self.claim(self.ping(ns, addr), "ping from %s to %s" % (ns, addr))

    def transfer(self):
        n = self.megabytes * 1024 * 1024
        self.say("4. %d MB TCP transfer from the router's side to the gateway's" % self.megabytes)
        result = self.lab.tcp_transfer("router", "gw", "10.77.0.1", n, timeout=300)
        self.claim(result.received_bytes == n and result.received_sha256 == result.sent_sha256,
                   "%d bytes arrived, sha256 %s... matches (%.1f s, %.0f Mbit/s)"
                   % (result.received_bytes, result.received_sha256[:16], result.seconds,
                      n * 8 / result.seconds / 1e6))

    def marker(self):
        self.say("5. A marker through the tunnel: readable inside, invisible on the wire")
        script = ("import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
                  "[s.sendto(sys.argv[1].encode(),('10.77.0.1',9)) for _ in range(5)]")
        self.lab.run("router", sys.executable, "-c", script, MARKER.decode())
        # tcpdump may still be writing out the transfer's packets; stopping
        # it now would lose the tail of its ring buffer, markers included.
        # Wait (bounded) until the marker is on disk or the capture stops growing.
        deadline, size = time.monotonic() + 5.0, -1
        while time.monotonic() < deadline and MARKER not in _read(self.tunnel_pcap):
            now = os.path.getsize(self.tunnel_pcap)
            if now == size and time.monotonic() > deadline - 4.0:
                break
            size = now
            time.sleep(0.25)

    def captures_report(self):
        for proc in self.captures:
            self.lab.stop_process(proc)
        wire = _read(self.wire_pcap)
        inside = _read(self.tunnel_pcap)
        self.claim(MARKER in inside, "marker seen %d times in the gateway's tunnel capture"
                   % inside.count(MARKER))
        self.claim(MARKER not in wire, "marker seen %d times on the wire" % wire.count(MARKER))
        tally = wire_tally(self.lab, self.wire_pcap)
        self.claim(tally["ip_packets"] > 0 and tally["other"] == 0,
                   "wire capture: %d IP packets: %d WireGuard UDP to/from port %d, %d link-local "
                   "IPv6 housekeeping (ND/MLD), %d anything else"
                   % (tally["ip_packets"], tally["wireguard"], GW_PORT, tally["link_control"],
                      tally["other"]))
        for line in tally["other_examples"]:
            self.say("      other: " + line)

    def counters(self):
        try:
            os.kill(self.agent.pid, 10)   # SIGUSR1: write the status file now
            time.sleep(0.3)
            with open(self.status_file) as f:
                status = json.load(f)
        except (OSError, ValueError) as e:
            self.claim(False, "agent status readable (%s)" % e)
            return
        c = status["counters"]
        peer = self.gw.show().peers[self.router_pub]
        self.say("6. Counters")
        self.say("   agent:   %d datagrams sent (%d bytes), %d received (%d bytes), drops %s"
                 % (c["tx_packets"], c["tx_bytes"], c["rx_packets"], c["rx_bytes"], c["drops"] or "none"))
        self.say("   gateway: rx %d bytes, tx %d bytes from/to %s" % (peer.rx_bytes, peer.tx_bytes, peer.endpoint))
        self.claim(c["core_errors"] == 0, "no internal errors in the agent's loop")

    def run(self):
        self.build()
        self.handshake()
        self.pings()
        self.transfer()
        self.marker()
        self.counters()
        self.captures_report()
        failed = [text for ok, text in self.claims if not ok]
        self.say()
        if failed:
            self.say("RESULT: %d of %d claims FAILED" % (len(failed), len(self.claims)))
            self.say("agent log (last lines):\n" + self.lab.read_log(self.agent)[-2000:])
            return 1
        self.say("RESULT: all %d claims held: our userspace WireGuard and wireguard-go carried "
                 "IPv4, IPv6 and TCP traffic, and nothing readable crossed the wire." % len(self.claims))
        return 0


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def wire_tally(lab, pcap):
    """Classify every IP packet of a capture: WireGuard UDP on GW_PORT or other."""
    out = subprocess.run(["tcpdump", "-n", "-r", pcap, "ip or ip6"], capture_output=True,
                         text=True, check=False).stdout
    return classify(out.splitlines())


def classify(lines):
    """Tally tcpdump -n lines: WireGuard UDP on GW_PORT, link housekeeping, other."""
    tally = {"ip_packets": 0, "wireguard": 0, "link_control": 0, "other": 0, "other_examples": []}
    wg_marks = (".%d: UDP" % GW_PORT, ".%d >" % GW_PORT)
    for line in lines:
        tally["ip_packets"] += 1
        if " UDP" in line and any(m in line for m in wg_marks):
            tally["wireguard"] += 1
        elif _link_control(line):
            tally["link_control"] += 1
        else:
            tally["other"] += 1
            if len(tally["other_examples"]) < 5:
                tally["other_examples"].append(line)
    return tally


def _link_control(line):
    """IPv6 housekeeping of the veth link itself (neighbour discovery,
    multicast listener reports) between link-local or unspecified
    addresses: generated by the kernel, carrying no LAN data."""
    if " ICMP6" not in line:
        return False
    try:
        src, dst = line.split(" IP6 ", 1)[1].split(" > ", 1)
    except ValueError:
        return False
    dst = dst.split(" ", 1)[0].rstrip(":")
    src_local = src == "::" or src.startswith("fe80:")
    dst_local = dst.startswith("ff02:") or dst.startswith("fe80:")
    return src_local and dst_local


def main(argv=None):
    parser = argparse.ArgumentParser(prog="vpnspot lab demo",
                                     description="Run the agent's tunnel against a wireguard-go "
                                                 "gateway in namespaces and print the proof.")
    parser.add_argument("what", nargs="?", default="demo", choices=["demo"])
    parser.add_argument("scenario", nargs="?", default="all", choices=["all", "tunnel", "household"],
                        help="tunnel: our WireGuard against wireguard-go, with captures; "
                             "household: the whole household lab enrolled with the reference "
                             "VPN Spot service, with kill switch, DNS, IPv6, a WAN capture and "
                             "the web UI (household_demo.py); all (default): both, in turn")
    parser.add_argument("--megabytes", type=int, default=50, help="size of the TCP transfer")
    parser.add_argument("--no-wait", action="store_true",
                        help="household: remove the lab right after the proofs (the default "
                             "when stdin is not a terminal); otherwise it stays up with the web "
                             "UI until Ctrl-C")
    args = parser.parse_args(argv)
    wait = not args.no_wait and sys.stdin.isatty()
    if args.scenario == "household":
        from . import household_demo
        return household_demo.main(wait=wait)
    if args.scenario == "all":
        print("=== Part 1: the tunnel against a reference WireGuard gateway ===", flush=True)
        first = main(["demo", "tunnel", "--megabytes", str(args.megabytes)])
        print("\n=== Part 2: the household scenario ===", flush=True)
        from . import household_demo
        second = household_demo.main(wait=wait and first == 0)
        return first or second
    missing = netns.missing_tools(netns.REQUIRED_TOOLS + ("tcpdump",))
    if missing:
        print("error: missing tools: %s; run `bash vpnspot_router/lab/setup.sh` as root"
              % ", ".join(missing), file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("error: the lab demo needs root (network namespaces)", file=sys.stderr)
        return 2
    netns.sweep_stale()
    with netns.Lab() as lab:
        return Demo(lab, args.megabytes).run()
