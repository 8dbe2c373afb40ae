"""What the console may show outside a debug session.

Owns the filter every log line and support bundle passes through before it
leaves the router on the serial line: IPv4 and IPv6 addresses, MAC
addresses and email addresses are replaced by placeholders, except the
addresses listed as allowed (the VPN Spot gateway's endpoint, which a
technician needs and which says nothing about the household). The agent's
log is meant to hold none of these already; this is the second line of
defence, for a line written by mistake or by another program.
"""

import re

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
# Groups of hex with at least two colons; also catches "::1" and "fd77::2".
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_MAC = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}(?![\w:])")
_EMAIL = re.compile(r"[\w.!#$%&*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def scrub(text, allowed=()):
    """text with every address not in `allowed` replaced."""
    allowed = set(allowed)

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

    return _IPV6.sub(v6, text)
