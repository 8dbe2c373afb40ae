"""Availability: whether an optional kernel feature can be used here, and why.

Owns: Availability, the answer of the availability probes
(tunnel/kernel.py's module_available for kernel WireGuard, crypto/afalg.py's
available for the kernel crypto API's AEAD over AF_ALG). False in a boolean
context when unavailable; `reason` is text for people (`vpnspot tunnel up`
and the crypto selection print it).

Standard library only, and nothing at all imported: the always-on agent
loads it (tests/router/test_agent_memory.py, tests/vm/test_agent_kernel_memory.py).
"""


class Availability(object):
    """ok (bool) and reason (str). False in a boolean context when not ok."""

    __slots__ = ("ok", "reason")

    def __init__(self, ok, reason):
        self.ok = ok
        self.reason = reason

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return "<Availability %s: %s>" % (self.ok, self.reason)
