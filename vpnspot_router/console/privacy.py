"""What the console may show outside a debug session.

Owns the filter every log line and support bundle passes through before it
leaves the router on the serial line: IPv4 and IPv6 addresses, MAC
addresses, email addresses and DNS names/hostnames are replaced by
placeholders (<ipv4>, <ipv6>, <mac>, <email>, <name>), except the values
listed as allowed (the VPN Spot gateway's endpoint and the provider API's
host, which a technician needs and which say nothing about the household).
The agent's log is meant to hold none of these already; this is the second
line of defence, for a line written by mistake or by another program
(dnsmasq's query and DHCP lines above all).

Names. A dotted name whose last label starts with a letter
(`www.example.com`, `nas.lan`, `DESKTOP-4F2.home.arpa`) is a DNS name and
goes; a single-label hostname goes where a log says it is one (after a MAC,
as dnsmasq's DHCP lines put it, `hostname=`/`host:`, and dnsmasq's
`query[A] X from`, `reply X is`, `forwarded X to`, `cached X is`). What
looks like a name but is the router's own text stays, because a technician
needs it and it says nothing about the household:
  - file paths and file names (`/etc/config/vpnspot`, `driver.py`,
    `device.json.last-good`): a name right after `/`, or one ending in a
    file extension from FILE_EXTENSIONS (or in one and a FILE_SUFFIXES
    word or `corrupt-N`); a real host under such a top-level domain
    (`.py`, `.sh`) is the price;
  - the agent's own logger and module names (`vpnspot.agent`,
    `vpnspot_router.driver`): first label `vpnspot` or `vpnspot_router`;
  - program identifiers in tracebacks and error text (`self.sup.state`,
    `os.unlink(`, `ssl.SSLError`, `self.next_neighbours`): a name starting
    with `self.`/`cls.`, followed by `(`, with a `_` in a label, or whose
    last label mixes upper and lower case (no top-level domain does);
  - version strings (`0.4.1`, `python3.11`): the last label starts with a
    digit, so they are not names at all.
We err on the side of privacy: a word that only looks like a name (e.g.
`socket.timeout`) is replaced too.
"""

import re

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
# Groups of hex with at least two colons; also catches "::1" and "fd77::2".
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_MAC = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![\w:])")
_EMAIL = re.compile(r"[\w.!#$%&*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")

# Labels of letters, digits, '-' and '_' joined by dots; the last label
# starts with a letter and has at least two characters. A trailing root dot
# stays outside the match (it ends a sentence just as often).
_DOTTED = re.compile(r"(?<![\w.@-])((?:[A-Za-z0-9_][\w-]*\.)+[A-Za-z][\w-]*[A-Za-z0-9])(?![\w@-]|\.\w)")
_AFTER_MAC = re.compile(r"(<mac>\s+)([A-Za-z0-9][\w.-]*)")
_KEYED = re.compile(r"(?i)(\b(?:hostname|host)\s*[=:]\s*['\"]?)"
                    r"([A-Za-z0-9][\w.-]*)")
_DNSMASQ = re.compile(r"(\b(?:query\[\w+\]|forwarded|reply|cached)\s+)([^\s<>]+)"
                      r"(?=\s+(?:from|is|to)\b)")

OWN_PREFIXES = ("vpnspot", "vpnspot_router")
FILE_EXTENSIONS = frozenset((
    "py", "pyc", "mpy", "json", "pem", "crt", "key", "csr", "conf", "cfg", "ini", "nft", "sock",
    "log", "txt", "sh", "ipk", "apk", "gz", "tgz", "tar", "so", "ko", "tpl", "js", "css", "html",
    "svg", "png", "yaml", "yml", "token", "lock", "pid", "new", "tmp", "bak", "init", "hotplug",
    "defaults", "keep", "list", "control", "bin"))
# What the store and editors append to a file name.
FILE_SUFFIXES = frozenset(("last-good", "new", "tmp", "bak", "old", "orig"))


def _is_own_text(name, rest):
    labels = name.split(".")
    if labels[0] in OWN_PREFIXES or labels[0] in ("self", "cls"):
        return True
    last = labels[-1].lower()
    if last in FILE_EXTENSIONS:
        return True                 # driver.py, a.tar.gz
    if (last in FILE_SUFFIXES or last.startswith("corrupt-")) and len(labels) > 2 \
            and labels[-2].lower() in FILE_EXTENSIONS:
        return True                 # device.json.last-good, reports.json.corrupt-1700000000
    if any("_" in label for label in labels):
        return True
    last = labels[-1]
    if last.lower() != last and last.upper() != last:
        return True                 # CamelCase: a class name, not a top-level domain
    return rest.startswith("(")


def scrub(text, allowed=()):
    """text with every address and name not in `allowed` replaced."""
    allowed = set(allowed)
    allowed_lower = set(a.lower() for a in allowed)

    def keep_or(placeholder):
        def sub(m):
            return m.group(0) if m.group(0) in allowed else placeholder
        return sub

    text = _EMAIL.sub(keep_or("<email>"), text)
    text = _MAC.sub(keep_or("<mac>"), text)
    text = _IPV4.sub(keep_or("<ipv4>"), text)

    def v6(m):
        s = m.group(0)
        # Times (12:30:45) and bare colons are not addresses.
        if s.count(":") < 2 or all(ch in "0123456789:" for ch in s) and "::" not in s:
            return s
        return s if s in allowed else "<ipv6>"

    text = _IPV6.sub(v6, text)

    def named(m):
        name = m.group(2)
        if name.lower().rstrip(".") in allowed_lower or name.startswith("<"):
            return m.group(0)
        return m.group(1) + "<name>"

    text = _DNSMASQ.sub(named, text)
    text = _AFTER_MAC.sub(named, text)
    text = _KEYED.sub(named, text)

    def dotted(m):
        name = m.group(1)
        before = text[max(0, m.start() - 3):m.start()]
        if before.endswith("/") and not before.endswith("://"):
            return name             # a path's component; a URL's host is a name
        if name.lower() in allowed_lower or _is_own_text(name, text[m.end():m.end() + 1]):
            return name
        return "<name>"

    return _DOTTED.sub(dotted, text)
