"""Retry delays: capped exponential backoff with full jitter.

Owns the schedule only. The caller supplies the random fraction (0 <= r < 1)
and does the sleeping, so this module needs no clock and no random source
and runs unchanged under MicroPython. Used by provider/client.py for calls
to the VPN Spot service; the agent's reconnect loop may use it too.

Full jitter (delay = r * min(cap, base * 2**attempt)) rather than a fixed
schedule: after a service outage every router of an ISP retries at once,
and spreading the retries over the whole window keeps them from arriving
as one wave.
"""


def ceiling(attempt, base, cap):
    """The largest delay allowed before retry number `attempt` (0 = first retry)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base <= 0 or cap <= 0:
        raise ValueError("base and cap must be positive")
    # Stop doubling once past the cap: 2**attempt grows without bound.
    limit = base
    n = 0
    while n < attempt and limit < cap:
        limit = limit * 2
        n += 1
    if limit > cap:
        limit = cap
    return limit


def full_jitter(attempt, base, cap, fraction):
    """Delay in seconds before retry `attempt`, given a random fraction in [0, 1)."""
    if fraction < 0 or fraction >= 1:
        raise ValueError("fraction must be in [0, 1)")
    return fraction * ceiling(attempt, base, cap)


def retry_delay(attempt, base, cap, fraction, retry_after=None):
    """Delay before retry `attempt`, honouring a server's Retry-After.

    A service that says when to come back is obeyed (never earlier), but
    jitter is still added on top so the routers that were told the same
    time do not all return in the same second. Returns None when the
    service asks for a wait longer than `cap`: the caller gives up and
    reports it instead of blocking that long.
    """
    delay = full_jitter(attempt, base, cap, fraction)
    if retry_after is None:
        return delay
    if retry_after > cap:
        return None
    return retry_after + delay
