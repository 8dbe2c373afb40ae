"""console/privacy.py: what `logs` and `bundle` may carry off the router.

Names are the household's too: which sites it visits (dnsmasq's query
lines) and what its devices are called (DHCP lines). The filter replaces
them and keeps what a technician needs and what says nothing about the
household: paths, file names, the agent's module names, program
identifiers, versions, and the service's own hosts.
"""

import json
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from vpnspot_router.console import backend as console_backend
from vpnspot_router.console.privacy import scrub

SERVICE = ["api.vpnspot.net", "203.0.113.10", "gw1.vpnspot.test"]


def test_dnsmasq_query_and_dhcp_lines_lose_every_name_and_address():
    lines = [
        ("dnsmasq[812]: query[A] www.example.com from 192.168.77.10",
         "dnsmasq[812]: query[A] <name> from <ipv4>"),
        ("dnsmasq[812]: forwarded bank.example.org to 198.51.100.1",
         "dnsmasq[812]: forwarded <name> to <ipv4>"),
        ("dnsmasq[812]: reply johns-laptop is 192.168.77.23",
         "dnsmasq[812]: reply <name> is <ipv4>"),
        ("dnsmasq[812]: cached nas.lan is fd77:1::20", "dnsmasq[812]: cached <name> is <ipv6>"),
        ("dnsmasq-dhcp[812]: DHCPACK(br-lan) 192.168.77.23 02:11:22:33:44:55 Johns-iPhone",
         "dnsmasq-dhcp[812]: DHCPACK(br-lan) <ipv4> <mac> <name>"),
        ("odhcpd: hostname=kitchen-tv lease renewed", "odhcpd: hostname=<name> lease renewed"),
        ("resolving DESKTOP-4F2.home.arpa. failed", "resolving <name>. failed"),
        ("fetch http://tracker.example.org/pixel failed", "fetch http://<name>/pixel failed"),
    ]
    for line, expected in lines:
        assert scrub(line, SERVICE) == expected


def test_the_router_s_own_words_stay_useful():
    lines = [
        "vpnspot.agent INFO agent 0.4.1 started; /etc/config/vpnspot read",
        'File "/usr/lib/python3.11/site-packages/vpnspot_router/driver.py", line 901, in run',
        "    self.dispatch(self.sup.boot(now))",
        "    if self.sup.state == sv.NOT_ENROLLED:",
        "ssl.SSLCertVerificationError: certificate verify failed",
        "/etc/vpnspot/device.json.last-good used; reports.json.corrupt-1700000000 moved aside",
        "vpnspot_router.driver: kill switch on (table inet vpnspot)",
        "python3.11, openssl 3.0.15, kernel 6.1.0-18-amd64",
        "e.g. the agent restarted",
        "GET https://api.vpnspot.net/v1/servers: 503",
        "handshake with gw1.vpnspot.test:51820 (203.0.113.10:51820) completed",
    ]
    for line in lines:
        assert scrub(line, SERVICE) == line


def test_a_service_host_is_kept_only_when_it_is_the_configured_one():
    assert scrub("GET https://api.vpnspot.net/v1/servers") == "GET https://<name>/v1/servers"
    assert scrub("site.vpnspot.test answered", SERVICE) == "<name> answered"


LABEL = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12).filter(
    lambda s: s[0] not in "-" and s[-1] != "-")
TLD = st.text(string.ascii_lowercase, min_size=2, max_size=6).filter(
    lambda s: s not in ("py", "sh", "so", "ko", "js", "gz", "pem", "key", "crt", "log", "txt",
                        "bin", "new", "tmp", "bak", "pid", "lock", "json", "conf", "cfg", "ini",
                        "nft", "sock", "ipk", "apk", "tar", "tgz", "tpl", "css", "html", "svg",
                        "png", "yaml", "yml", "token", "init", "keep", "list", "mpy", "pyc",
                        "csr", "control", "hotplug", "old", "orig", "defaults"))
NAME = st.builds(lambda labels, tld: ".".join(labels + [tld]),
                 st.lists(LABEL, min_size=1, max_size=4), TLD).filter(
    lambda n: not n.startswith(("vpnspot.", "vpnspot_router.", "self.", "cls.")))
FILLER = st.text(string.ascii_letters + " :,;[]()=", max_size=20)


@settings(max_examples=400, deadline=None)
@given(FILLER, NAME, FILLER)
def test_no_dns_name_survives_wherever_it_sits_in_a_line(before, name, after):
    # Whatever surrounds it (short of a `/` making it a path, or `(` a call),
    # a name written into a log line does not come out.
    line = before + " " + name + " " + after.lstrip("(")
    out = scrub(line)
    assert name not in out, (line, out)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_scrubbing_twice_changes_nothing_more(text):
    once = scrub(text, SERVICE)
    assert scrub(once, SERVICE) == once


def test_the_bundle_carries_no_name_a_log_line_held(tmp_path, monkeypatch):
    from vpnspot_router import configstore
    run = tmp_path / "run"
    run.mkdir()
    log = tmp_path / "vpnspot.log"
    log.write_text("dnsmasq[1]: query[AAAA] private-clinic.example from 192.168.77.10\n"
                   "vpnspot.agent: provider https://api.vpnspot.net/v1 answered\n")
    backend = console_backend.RealBackend(paths=configstore.Paths(str(tmp_path / "vpnspot"), ()),
                                          run_dir=str(run), state_dir=str(tmp_path / "state"),
                                          log_file=str(log), logread="/nonexistent/logread")
    lines = backend.logs(10)["lines"]
    assert lines == ["dnsmasq[1]: query[AAAA] <name> from <ipv4>",
                     "vpnspot.agent: provider https://api.vpnspot.net/v1 answered"]
    bundle = json.dumps(console_backend.decode_bundle(backend.bundle()["base64"]))
    assert "private-clinic" not in bundle and "192.168.77.10" not in bundle
    assert "api.vpnspot.net" in bundle
