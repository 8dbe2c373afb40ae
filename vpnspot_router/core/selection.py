"""Server choice and failover order: which VPN Spot server the router uses,
and which it tries next when that one stops answering.

Owns the policy only. Sans-IO and MicroPython-portable: the supervisor
(core/supervisor.py) hands in the server list from the provider, latency
samples the driver measured (agent.py times a WireGuard handshake to each
candidate endpoint) and the household's preference, and gets back an
ordered list of server ids. Nothing here measures, sleeps or reads a clock.

The rules, in order (keep README "The supervisor" in sync):
  1. a pinned server (`server` option) comes first, whatever its latency;
  2. with a region preference (`region` other than "fastest"), the servers
     of that region come before every other; the others stay in the list
     so a household is not cut off when its whole region is down (the
     kill switch would otherwise block every device), and the status says
     when the router is outside the chosen region;
  3. inside each group: servers that answered a probe, best score first
     (score = median latency in ms + LOAD_WEIGHT_MS per load percent, so a
     nearly idle server 20 ms further away beats a full one next door),
     then servers not probed (by load), then servers whose probe failed;
  4. servers marked failed (they stopped answering while in use) move to
     the end, in the same relative order, so failover tries every other
     server before returning to one that just died;
  5. ties break by server id, so the same inputs always give the same order.
"""

LOAD_WEIGHT_MS = 2
FASTEST = "fastest"

# rank groups
_PROBED = 0
_UNPROBED = 1
_UNREACHABLE = 2


class SelectionError(ValueError):
    """The inputs cannot give a choice; the message says why."""


def median(samples):
    """Median of a list of numbers (None entries = lost probes are ignored);
    None if nothing came back."""
    values = sorted([s for s in samples if s is not None])
    if not values:
        return None
    n = len(values)
    if n % 2:
        return values[n // 2]
    return (values[n // 2 - 1] + values[n // 2]) / 2


def score(server, samples):
    """(group, score) for one server; lower is better."""
    load = server.get("load", 0) or 0
    if samples is None:
        return (_UNPROBED, load * LOAD_WEIGHT_MS)
    m = median(samples)
    if m is None:
        return (_UNREACHABLE, load * LOAD_WEIGHT_MS)
    return (_PROBED, m + load * LOAD_WEIGHT_MS)


def rank(servers, latencies=None, region=FASTEST, pinned="", failed=()):
    """Server ids in the order to try them.

    servers: list of dicts with at least id, region, load (the provider's
    Server objects). latencies: {server id: [ms or None, ...]} for the
    servers probed (a None sample is a probe that got no answer).
    failed: ids that stopped answering while in use.
    """
    if not servers:
        raise SelectionError("the provider listed no servers")
    latencies = latencies or {}
    seen = {}
    keyed = []
    for s in servers:
        sid = s.get("id")
        if not sid or sid in seen:
            raise SelectionError("the server list has a missing or repeated id %r" % sid)
        seen[sid] = True
        group, value = score(s, latencies.get(sid))
        pin = 0 if pinned and sid == pinned else 1
        in_region = 0 if region == FASTEST or s.get("region") == region else 1
        dead = 1 if sid in failed else 0
        keyed.append(((dead, pin, in_region, group, value, sid), sid))
    keyed.sort()
    return [sid for _key, sid in keyed]


def next_server(order, current, failed=()):
    """The server to fail over to from `current`: the next one in `order`
    not marked failed, wrapping around; when every other server failed
    too, the next one in order anyway (one of them may be back). None only
    when `order` has no server but `current`."""
    if not order:
        return None
    start = order.index(current) + 1 if current in order else 0
    n = len(order)
    fallback = None
    for i in range(n):
        sid = order[(start + i) % n]
        if sid == current:
            continue
        if sid not in failed:
            return sid
        if fallback is None:
            fallback = sid
    return fallback


def candidates_to_probe(servers, region=FASTEST, pinned="", limit=8):
    """Which servers to probe before choosing: the pinned one, the region's,
    then the least loaded others, at most `limit` (probing is one
    handshake each; a list of hundreds must not become hundreds)."""
    order = rank(servers, None, region, pinned)
    return order[:limit]


def in_region(server, region):
    return region == FASTEST or server.get("region") == region
