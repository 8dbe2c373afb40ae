"""The agent's lifecycle: one explicit state machine, events in, actions out.

Owns: what the agent does next - kill switch first, enrollment, fetching
the server list, key registration, choosing a server (core/selection.py),
connecting, watching the tunnel's health, failing over, backing off when
the provider's service is unreachable - and the history of transitions
that `vpnspot status` shows. Sans-IO and MicroPython-portable: every entry
point takes `now` (seconds, monotonic); random fractions for jitter come
in as arguments. The driver (agent.py) performs the actions and reports
the results back as events. Keep agent.py's dispatch and the README
section "The supervisor" in sync with TRANSITIONS.

States and events (TRANSITIONS is the table; any other pair raises
SupervisorError and changes nothing):

  boot --killswitch_loaded(enrolled)--> enrolled | not_enrolled
  not_enrolled --enrolled--> enrolled
  enrolled --fetch--> fetching                       (FetchServers)
  fetching --servers(list)--> registering            (RegisterKey; once per key)
                            | choosing               (ProbeServers)
  fetching --api_unreachable--> backoff              (no config known yet)
                              | connecting           (last good config: the tunnel runs
                                                      on it while the API is retried)
  fetching|registering --api_refused--> needs_attention  (account, enrollment: final)
  registering --key_registered--> choosing           (ProbeServers)
  registering --api_unreachable--> backoff | connecting
  choosing --probed(latencies)--> connecting         (ConfigureTunnel)
  connecting|failing_over --handshake--> connected
  connecting|failing_over|connected --server_dead--> failing_over (ConfigureTunnel next)
  backoff --retry--> fetching                        (from tick(now))
  connected --refresh--> connected                   (FetchServers in the background)
  any enrolled state --connect--> fetching           (the household chose again)
  any enrolled state --disconnect--> disconnected    (StopTunnel; the kill switch stays)
  any --stop--> stopped                              (StopTunnel)

The household's own server (setting server_source 'own'; the driver reads
STATE/wg-household.conf and hands over own_server()'s dict):

  any state after boot --use_own--> connecting       (ConfigureTunnel to the own server)
  any state after boot --own_unusable--> needs_attention
                                                     (StopTunnel: the file is missing or
                                                      bad; the kill switch holds)
  connecting|connected|failing_over|disconnected|needs_attention
      --use_vpnspot--> fetching                      (StopTunnel, FetchServers)
      --use_vpnspot_not_enrolled--> not_enrolled     (StopTunnel)

While the own server is in use (source == SOURCE_OWN) nothing goes to the
provider: no server list, no key registration, no probing, no background
refresh or API retry; connect() with a region or server is refused; the
server is watched passively only (we do not know which of its tunnel-side
addresses would answer a probe), and a dead one is configured again (there
is no other to fail over to); last_good keeps the last VPN Spot server.

Health, from monitor(now, handshake_at, rx, tx) (the driver samples the
tunnel's counters about once a second): a server is dead when
  - connecting: no handshake within connect_timeout of ConfigureTunnel;
  - connected, actively (core/liveness.py): the tunnel sent data and
    nothing came back for probe_after (1 s), so the server is probed
    through the tunnel (ProbeTunnel: an ICMP echo to its tunnel-side
    address); probe_failures (2) probes unanswered for probe_timeout
    (0.5 s, longer on a slow path) each. A reply proves the server alive
    whatever the LAN traffic does, so one-way traffic never fails over. Only
    a server that has answered a probe on this tunnel is judged this way;
  - connected, passively (servers that do not answer probes): the tunnel
    sent data (tx grew) and nothing came back (rx still) for dead_after
    seconds - a live WireGuard peer answers data
    with data or a keepalive within KEEPALIVE_TIMEOUT (10 s), and a new
    handshake is due REKEY_TIMEOUT (5 s) later, hence the default 15 s;
  - connected: the last handshake is older than REJECT_AFTER_TIME plus a
    retry's worth (no session can be in use any more).
A background refresh that fails does not touch the tunnel: it is retried
with capped exponential backoff and full jitter (core/backoff.py).

Every server entry passes core/serverlist.py before it is used: the
provider's list (a refused entry is left out and named in `refused`, which
the driver logs; a list with nothing usable is a failed call), the tunnel
addresses of key registration (unusable: a failed call) and the last good
server from flash (unusable: forgotten). `networks` holds the router's own
prefixes (serverlist.router_networks()), which the driver keeps current.
"""

from . import backoff
from . import liveness
from . import selection
from . import serverlist

BOOT = "boot"
NOT_ENROLLED = "not_enrolled"
ENROLLED = "enrolled"
FETCHING = "fetching"
REGISTERING = "registering"
CHOOSING = "choosing"
CONNECTING = "connecting"
CONNECTED = "connected"
FAILING_OVER = "failing_over"
BACKOFF = "backoff"
NEEDS_ATTENTION = "needs_attention"
DISCONNECTED = "disconnected"
STOPPED = "stopped"

STATES = (BOOT, NOT_ENROLLED, ENROLLED, FETCHING, REGISTERING, CHOOSING, CONNECTING, CONNECTED,
          FAILING_OVER, BACKOFF, NEEDS_ATTENTION, DISCONNECTED, STOPPED)

# States of a router that holds an enrollment; the household may connect or
# disconnect from any of them.
_ENROLLED_STATES = (ENROLLED, FETCHING, REGISTERING, CHOOSING, CONNECTING, CONNECTED,
                    FAILING_OVER, BACKOFF, NEEDS_ATTENTION, DISCONNECTED)
_TUNNEL_STATES = (CONNECTING, CONNECTED, FAILING_OVER)
# States the own server can leave the supervisor in.
_OWN_STATES = (CONNECTING, CONNECTED, FAILING_OVER, DISCONNECTED, NEEDS_ATTENTION)

# Where the tunnel goes (configuration option server_source).
SOURCE_VPNSPOT = "vpnspot"
SOURCE_OWN = "own"
OWN_ID = "own"


def _table():
    t = {
        (BOOT, "killswitch_loaded_enrolled"): ENROLLED,
        (BOOT, "killswitch_loaded_not_enrolled"): NOT_ENROLLED,
        (NOT_ENROLLED, "enrolled"): ENROLLED,
        (ENROLLED, "fetch"): FETCHING,
        (FETCHING, "servers_need_key"): REGISTERING,
        (FETCHING, "servers"): CHOOSING,
        (FETCHING, "api_unreachable"): BACKOFF,
        (FETCHING, "api_unreachable_last_good"): CONNECTING,
        (FETCHING, "api_refused"): NEEDS_ATTENTION,
        (REGISTERING, "key_registered"): CHOOSING,
        (REGISTERING, "api_unreachable"): BACKOFF,
        (REGISTERING, "api_unreachable_last_good"): CONNECTING,
        (REGISTERING, "api_refused"): NEEDS_ATTENTION,
        (CHOOSING, "probed"): CONNECTING,
        (CONNECTING, "handshake"): CONNECTED,
        (FAILING_OVER, "handshake"): CONNECTED,
        (CONNECTING, "server_dead"): FAILING_OVER,
        (FAILING_OVER, "server_dead"): FAILING_OVER,
        (CONNECTED, "server_dead"): FAILING_OVER,
        (BACKOFF, "retry"): FETCHING,
        (NEEDS_ATTENTION, "retry"): FETCHING,
        (CONNECTED, "refresh"): CONNECTED,
    }
    for s in _ENROLLED_STATES:
        t[(s, "connect")] = FETCHING
        t[(s, "disconnect")] = DISCONNECTED
    for s in STATES:
        if s != STOPPED:
            t[(s, "stop")] = STOPPED
            t[(s, "use_own")] = CONNECTING
            t[(s, "own_unusable")] = NEEDS_ATTENTION
    for s in _OWN_STATES:
        t[(s, "use_vpnspot")] = FETCHING
        t[(s, "use_vpnspot_not_enrolled")] = NOT_ENROLLED
    return t


TRANSITIONS = _table()

# -- actions -------------------------------------------------------------

APPLY_KILL_SWITCH = 1
FETCH_SERVERS = 2
REGISTER_KEY = 3
PROBE_SERVERS = 4
CONFIGURE_TUNNEL = 5
STOP_TUNNEL = 6
PROBE_TUNNEL = 7


class ApplyKillSwitch:
    """Load the firewall table before anything else may happen."""
    kind = APPLY_KILL_SWITCH

    def __repr__(self):
        return "ApplyKillSwitch()"


class FetchServers:
    """GET /v1/servers; answer with servers_fetched() or api_failed()."""
    kind = FETCH_SERVERS

    def __init__(self, background):
        self.background = background    # True: the tunnel runs; a failure changes nothing

    def __repr__(self):
        return "FetchServers(background=%s)" % self.background


class RegisterKey:
    """PUT /v1/device/key with the router's public key; key_registered()."""
    kind = REGISTER_KEY

    def __repr__(self):
        return "RegisterKey()"


class ProbeServers:
    """Measure latency to these servers; answer with probed()."""
    kind = PROBE_SERVERS

    def __init__(self, servers):
        self.servers = servers          # server dicts

    def __repr__(self):
        return "ProbeServers(%s)" % ",".join([s["id"] for s in self.servers])


class ConfigureTunnel:
    """Point the tunnel at this server (replacing any other)."""
    kind = CONFIGURE_TUNNEL

    def __init__(self, server, addresses, reason):
        self.server = server            # server dict
        self.addresses = addresses      # {"ipv4": ..., "ipv6": ...}
        self.reason = reason

    def __repr__(self):
        return "ConfigureTunnel(%s, %s)" % (self.server["id"], self.reason)


class StopTunnel:
    kind = STOP_TUNNEL

    def __repr__(self):
        return "StopTunnel()"


class ProbeTunnel:
    """Send liveness probe `seq` to `address` (the server's tunnel-side
    address) through the tunnel; answer with probe_sent(), then
    probe_reply() or probe_failed()."""
    kind = PROBE_TUNNEL

    def __init__(self, seq, address):
        self.seq = seq
        self.address = address

    def __repr__(self):
        return "ProbeTunnel(%d, %s)" % (self.seq, self.address)


def own_server(endpoint, dns=()):
    """The server dict for the household's own WireGuard server: `endpoint`
    is the text "host:port" of its [Peer]'s Endpoint, `dns` the DNS
    addresses of its [Interface] (shown to the web UI's checks)."""
    return {"id": OWN_ID, "own": True, "endpoint": endpoint, "dns": list(dns), "region": None}


def probe_address(server):
    """The server's tunnel-side IPv4 address (its first DNS address), or
    None: a server without one is watched passively only, and so is the
    household's own server (its DNS may be any resolver behind it)."""
    if server.get("own"):
        return None
    for a in server.get("dns") or ():
        if ":" not in a:
            return a
    return None


class SupervisorError(ValueError):
    """An event the current state does not accept; nothing changed."""


# -- timing --------------------------------------------------------------

class Timing:
    """Seconds. Tests and the lab shorten them (agent.py reads
    VPNSPOT_SUPERVISOR_TIMING), always stating it."""

    def __init__(self):
        self.connect_timeout = 10.0     # two REKEY_TIMEOUTs and change
        self.dead_after = 15.0          # KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (passive)
        self.probe_after = 1.0          # sent, nothing back: probe the server
        self.probe_timeout = 0.5        # per probe; RTT_FACTOR x round trip if longer
        self.probe_failures = 2.0       # unanswered in a row: the server is dead
        self.stale_handshake = 180.0 + 30.0
        self.refresh = 6 * 3600.0       # server list refresh while connected
        self.backoff_base = 5.0
        self.backoff_cap = 600.0

    def set(self, name, value):
        if not hasattr(self, name) or name.startswith("_"):
            raise ValueError("the supervisor has no timer %r" % name)
        if value <= 0:
            raise ValueError("%s must be above 0" % name)
        setattr(self, name, float(value))


HISTORY_LIMIT = 32


class Supervisor:
    def __init__(self, region=selection.FASTEST, pinned="", timing=None):
        self.timing = timing or Timing()
        self.state = BOOT
        self.booted = False
        self.region = region
        self.pinned = pinned
        self.history = []               # (now, from, event, to, detail), the last HISTORY_LIMIT
        self.transitions = 0
        self.servers = []               # the provider's list (dicts)
        self.order = []                 # ids, selection.rank()
        self.latencies = {}
        self.failed = {}                # id -> time it stopped answering
        self.current = None             # server dict in use
        self.addresses = None           # tunnel addresses from key registration
        self.key_registered = False
        self.last_good = None           # (server, addresses) that completed a handshake
        self.api_attempts = 0
        self.api_retry_at = None
        self.api_problem = None
        self.next_refresh = None
        self.connect_started = None
        self.connected_at = None
        self.failovers = 0
        self.last_failover = None       # (from id, to id, at, seconds to handshake or None)
        self._rx = None
        self._tx = None
        self._waiting_since = None      # tx grew after the last rx growth, at this time
        self._handshake_at = None
        self.liveness = None            # core/liveness.py, while connected
        self._probe_seq = 0             # probe numbers run on across tunnels
        self.source = SOURCE_VPNSPOT    # SOURCE_OWN: the household's own server
        self.own_problem = None         # why the own server cannot be used
        self.networks = []              # the router's own prefixes (serverlist.router_networks)
        self.refused = []               # serverlist problems of the last list fetched

    # -- the table -------------------------------------------------------

    def _go(self, event, now, detail=""):
        target = TRANSITIONS.get((self.state, event))
        if target is None:
            raise SupervisorError("%s: not possible while %s" % (event, self.state))
        self.history.append((now, self.state, event, target, detail))
        self.transitions += 1
        del self.history[:-HISTORY_LIMIT]
        self.state = target

    def can(self, event):
        return (self.state, event) in TRANSITIONS

    # -- lifecycle events ------------------------------------------------

    def boot(self, now):
        if self.state != BOOT or self.booted:
            raise SupervisorError("boot: the supervisor has already started")
        self.booted = True
        return [ApplyKillSwitch()]

    def killswitch_loaded(self, now, enrolled, last_good=None):
        """The firewall table is in place. last_good: (server, addresses)
        saved from an earlier run, used if the service cannot be reached."""
        if not enrolled:
            self._go("killswitch_loaded_not_enrolled", now)
            return []
        self._go("killswitch_loaded_enrolled", now)
        last_good = self._checked_last_good(last_good)
        self.last_good = last_good
        if last_good is not None:
            self.key_registered = True
            self.addresses = last_good[1]
        return self._fetch(now)

    def _checked_last_good(self, last_good):
        """last_good if its server and addresses pass core/serverlist.py, else
        None (an older agent saved it unchecked); the reason joins `refused`."""
        if last_good is None:
            return None
        why = serverlist.server_problem(last_good[0], self.networks) if isinstance(
            last_good[0], dict) else "the saved server is not an object"
        if why is None:
            why = serverlist.addresses_problem(last_good[1], self.networks)
        if why is None:
            return last_good
        self.refused = ["last good server: " + why]
        return None

    def enrolled(self, now):
        self._go("enrolled", now)
        self.key_registered = False
        return self._fetch(now)

    def _fetch(self, now):
        self._go("fetch", now)
        return [FetchServers(False)]

    def servers_fetched(self, now, servers):
        """The provider's list arrived (background refresh or not)."""
        if self.source == SOURCE_OWN:
            return []           # an answer from before the switch: not wanted now
        if not servers:
            return self.api_failed(now, "the provider listed no servers", final=False)
        servers, self.refused = serverlist.usable(servers, self.networks)
        if not servers:
            return self.api_failed(now, "the provider listed no usable server (%d refused: %s)"
                                   % (len(self.refused), self.refused[0]), final=False)
        self.api_attempts = 0
        self.api_retry_at = None
        self.api_problem = None
        self.servers = list(servers)
        self.next_refresh = now + self.timing.refresh
        if self.state == CONNECTED:
            # Background refresh: keep the server in use; the new list only
            # changes where failover goes next.
            self.order = selection.rank(self.servers, self.latencies, self.region, self.pinned,
                                        self.failed)
            return []
        if not self.key_registered:
            self._go("servers_need_key", now)
            return [RegisterKey()]
        return self._choose(now, "servers")

    def key_registered_ok(self, now, addresses):
        why = serverlist.addresses_problem(addresses, self.networks)
        if why is not None:
            return self.api_failed(now, "the provider assigned an unusable tunnel address: "
                                   + why, final=False)
        self.addresses = addresses
        self.key_registered = True
        return self._choose(now, "key_registered")

    def _choose(self, now, event):
        self._go(event, now)
        ids = selection.candidates_to_probe(self.servers, self.region, self.pinned)
        return [ProbeServers([self._server(i) for i in ids])]

    def probed(self, now, latencies):
        """latencies: {id: [ms or None, ...]} for the servers probed."""
        self.latencies = dict(latencies)
        self.order = selection.rank(self.servers, self.latencies, self.region, self.pinned,
                                    self.failed)
        self._go("probed", now, self.order[0])
        return self._connect(now, self._server(self.order[0]), "best of %d probed" % len(latencies))

    def api_failed(self, now, problem, final, fraction=0.0):
        """A provider call failed. final: the service refused (account,
        enrollment) rather than being unreachable. fraction: random in [0, 1)."""
        if self.source == SOURCE_OWN:
            return []
        self.api_problem = problem
        if self.state in (CONNECTED, CONNECTING, FAILING_OVER, DISCONNECTED):
            # A background refresh: the tunnel keeps its server.
            self._schedule_retry(now, fraction)
            return []
        if final:
            self._go("api_refused", now, problem)
            self._schedule_retry(now, fraction, floor=self.timing.backoff_cap)
            return []
        self._schedule_retry(now, fraction)
        if self.last_good is not None and self.state in (FETCHING, REGISTERING):
            server, addresses = self.last_good
            self._go("api_unreachable_last_good", now, problem)
            self.addresses = addresses
            return self._connect(now, server, "last known good server (the service is unreachable)")
        self._go("api_unreachable", now, problem)
        return []

    def _schedule_retry(self, now, fraction, floor=0.0):
        delay = backoff.full_jitter(self.api_attempts, self.timing.backoff_base,
                                    self.timing.backoff_cap, fraction)
        self.api_attempts += 1
        self.api_retry_at = now + max(delay, floor)

    def connect(self, now, region=None, server=None):
        """The household asked to connect (optionally elsewhere)."""
        if self.source == SOURCE_OWN:
            raise SupervisorError("connect: your own server is in use (server_source own); "
                                  "switch back to VPN Spot servers to choose one")
        if region is not None:
            self.region = region
        if server is not None:
            self.pinned = server
        self._go("connect", now, "region %s%s" % (self.region, ", server " + self.pinned
                                                 if self.pinned else ""))
        self.failed = {}
        return [FetchServers(False)]

    def disconnect(self, now):
        self._go("disconnect", now)
        self.current = None
        return [StopTunnel()]

    def stop(self, now):
        self._go("stop", now)
        return [StopTunnel()]

    # -- the household's own server -----------------------------------------

    def _own_allowed(self, event):
        if self.state == BOOT and not self.booted:
            raise SupervisorError("%s: the kill switch is not loaded yet" % event)

    def _leave_provider(self):
        """Nothing of the provider flow may fire while the own server is in use."""
        self.api_retry_at = None
        self.api_problem = None
        self.api_attempts = 0
        self.next_refresh = None
        self.failed = {}
        self.order = []

    def use_own(self, now, server):
        """Connect to the household's own server (own_server()'s dict),
        from any state after boot; also to apply a newly imported file."""
        self._own_allowed("use_own")
        self._go("use_own", now, server["endpoint"])
        self.source = SOURCE_OWN
        self.own_problem = None
        self._leave_provider()
        return self._connect(now, server, "your own server", addresses=None)

    def own_unusable(self, now, problem):
        """server_source is 'own' but its file is missing or bad: no tunnel,
        the kill switch holds, the status says why."""
        self._own_allowed("own_unusable")
        self._go("own_unusable", now, problem)
        self.source = SOURCE_OWN
        self.own_problem = problem
        self.current = None
        self._end_liveness()
        self._leave_provider()
        return [StopTunnel()]

    def use_vpnspot(self, now, enrolled, last_good=None):
        """Back from the own server to VPN Spot's (nothing to do if already
        there). last_good: as for killswitch_loaded(), for a supervisor that
        started on the own server."""
        if self.source != SOURCE_OWN:
            return []
        self._go("use_vpnspot" if enrolled else "use_vpnspot_not_enrolled", now)
        self.source = SOURCE_VPNSPOT
        self.own_problem = None
        self.current = None
        self.connect_started = None
        self._end_liveness()
        if not enrolled:
            self.key_registered = False
            return [StopTunnel()]
        last_good = self._checked_last_good(last_good)
        if self.last_good is None and last_good is not None:
            self.last_good = last_good
            self.key_registered = True
            self.addresses = last_good[1]
        return [StopTunnel(), FetchServers(False)]

    # -- connecting and health ---------------------------------------------

    def _server(self, sid):
        for s in self.servers:
            if s["id"] == sid:
                return s
        raise SupervisorError("no server %r in the list" % sid)

    def _connect(self, now, server, reason, addresses=True):
        """addresses: True for the registered ones; None for the own server,
        whose file has its own."""
        self.current = server
        self.connect_started = now
        self._rx = self._tx = None
        self._waiting_since = None
        self._handshake_at = None
        self._end_liveness()
        return [ConfigureTunnel(server, self.addresses if addresses is True else addresses, reason)]

    def monitor(self, now, handshake_at, rx, tx):
        """A sample of the current tunnel: time of its last handshake (same
        clock as now, or None) and its byte counters."""
        if self.state not in _TUNNEL_STATES:
            return []
        if handshake_at is not None and (self.connect_started is None
                                         or handshake_at >= self.connect_started):
            self._handshake_at = handshake_at
        if self.state in (CONNECTING, FAILING_OVER):
            if self._handshake_at is not None:
                if self.state == FAILING_OVER and self.last_failover is not None:
                    f = self.last_failover
                    self.last_failover = (f[0], f[1], f[2], self._handshake_at - f[2])
                self._go("handshake", now, self.current["id"])
                self.connected_at = now
                self._rx, self._tx = rx, tx
                if self.source == SOURCE_OWN:
                    # Never saved as the last good VPN Spot server; no refresh.
                    return self._start_liveness(now)
                self.last_good = (self.current, self.addresses)
                if self.next_refresh is None:
                    self.next_refresh = now + self.timing.refresh
                return self._start_liveness(now)
            if now - self.connect_started >= self.timing.connect_timeout:
                return self._server_dead(now, "no handshake in %d s" % self.timing.connect_timeout)
            return []
        # CONNECTED
        if self._rx is None or rx < self._rx or tx < self._tx:
            # A new tunnel's counters: start watching afresh.
            self._rx, self._tx, self._waiting_since = rx, tx, None
            return []
        probes = []
        if rx > self._rx:
            self._waiting_since = None
            if self.liveness is not None:
                self.liveness.rx_progress(now)
        elif tx > self._tx:
            if self._waiting_since is None:
                self._waiting_since = now
            if self.liveness is not None:
                self.liveness.tx_progress(now)
        self._rx, self._tx = rx, tx
        if self.liveness is not None:
            probes = self._liveness_actions(now, self.liveness.tick(now))
            if self.state != CONNECTED:
                return probes       # declared dead: ConfigureTunnel for the next server
        if self._waiting_since is not None and now - self._waiting_since >= self.timing.dead_after:
            return self._server_dead(now, "sent data, nothing back for %.1f s"
                                     % (now - self._waiting_since))
        if self._handshake_at is not None and now - self._handshake_at >= self.timing.stale_handshake:
            return self._server_dead(now, "last handshake %d s ago" % (now - self._handshake_at))
        return probes

    # -- active liveness (core/liveness.py) ----------------------------------

    def _start_liveness(self, now):
        address = probe_address(self.current)
        if address is None:
            return []
        t = self.timing
        self.liveness = liveness.Liveness(t.probe_after, t.probe_timeout, int(t.probe_failures),
                                          self._probe_seq + 1)
        return self._liveness_actions(now, self.liveness.start(now))

    def _end_liveness(self):
        if self.liveness is not None:
            self._probe_seq = self.liveness.seq
        self.liveness = None

    def _liveness_actions(self, now, actions):
        out = []
        for a in actions:
            if a.kind == liveness.SEND_PROBE:
                self._probe_seq = a.seq
                out.append(ProbeTunnel(a.seq, probe_address(self.current)))
            elif a.kind == liveness.DECLARE_DEAD:
                return self._server_dead(now, a.why)
        return out

    def probe_sent(self, now, seq):
        if self.state != CONNECTED or self.liveness is None:
            return []
        return self._liveness_actions(now, self.liveness.probe_sent(now, seq))

    def probe_reply(self, now, seq):
        """An answer to probe `seq` came back through the tunnel."""
        if self.state != CONNECTED or self.liveness is None:
            return []
        return self._liveness_actions(now, self.liveness.probe_reply(now, seq))

    def probe_failed(self, now, seq):
        """Probe `seq` could not be sent, or the driver gave up on it."""
        if self.state != CONNECTED or self.liveness is None:
            return []
        return self._liveness_actions(now, self.liveness.probe_timeout(now, seq))

    def _server_dead(self, now, why):
        if self.source == SOURCE_OWN:
            # No other server to go to: the same one again (its endpoint name
            # is looked up afresh), the kill switch holding meanwhile.
            self._go("server_dead", now, "your own server: %s" % why)
            return self._connect(now, self.current, "your own server again (%s)" % why,
                                 addresses=None)
        dead = self.current["id"]
        self.failed[dead] = now
        if not self.order:
            self.order = selection.rank(self.servers or [self.current], self.latencies,
                                        self.region, self.pinned)
        nxt = selection.next_server(self.order, dead, self.failed)
        self._go("server_dead", now, "%s: %s" % (dead, why))
        if nxt is None:
            # The only server known: try it again (it may come back).
            nxt = dead
        self.failovers += 1
        self.last_failover = (dead, nxt, now, None)
        return self._connect(now, self._server(nxt) if self.servers else self.current,
                             "failover from %s (%s)" % (dead, why))

    def tick(self, now):
        """Timers: API retries, the background refresh, probe deadlines."""
        if self.state == CONNECTED and self.liveness is not None:
            acts = self._liveness_actions(now, self.liveness.tick(now))
            if acts:
                return acts
        if self.source == SOURCE_OWN:
            return []
        if self.state in (BACKOFF, NEEDS_ATTENTION) and self.api_retry_at is not None \
                and now >= self.api_retry_at:
            self._go("retry", now)
            return [FetchServers(False)]
        if self.state == CONNECTED:
            due = self.next_refresh
            if self.api_retry_at is not None:
                due = self.api_retry_at
            if due is not None and now >= due:
                self._go("refresh", now)
                self.next_refresh = now + self.timing.refresh
                self.api_retry_at = None
                return [FetchServers(True)]
        return []

    def next_wakeup(self):
        if self.source == SOURCE_OWN:
            return None
        if self.state in (BACKOFF, NEEDS_ATTENTION):
            return self.api_retry_at
        if self.state == CONNECTED:
            due = self.api_retry_at if self.api_retry_at is not None else self.next_refresh
            probe = self.liveness.next_wakeup() if self.liveness is not None else None
            if probe is not None and (due is None or probe < due):
                return probe
            return due
        return None

    # -- what status shows -------------------------------------------------

    def snapshot(self, now):
        cur = self.current
        lf = self.last_failover
        own = self.source == SOURCE_OWN
        return {
            "state": self.state,
            "server_source": self.source,
            "own_endpoint": cur.get("endpoint") if own and cur else None,
            "own_problem": self.own_problem,
            "server": cur["id"] if cur else None,
            "server_region": cur.get("region") if cur else None,
            "outside_region": bool(cur) and not own and not selection.in_region(cur, self.region),
            "region": self.region,
            "pinned": self.pinned or None,
            "order": list(self.order),
            "failed": sorted(self.failed),
            "failovers": self.failovers,
            "liveness": None if self.liveness is None else {
                "answering": self.liveness.answering, "probes": self.liveness.probes,
                "replies": self.liveness.replies, "unanswered": self.liveness.unanswered,
                "rtt_ms": None if self.liveness.rtt is None else round(self.liveness.rtt * 1000, 1)},
            "last_failover": None if lf is None else {
                "from": lf[0], "to": lf[1], "ago": now - lf[2], "seconds_to_handshake": lf[3]},
            "api_problem": self.api_problem,
            "servers_refused": list(self.refused),
            "api_retry_in": None if self.api_retry_at is None else max(0.0, self.api_retry_at - now),
            "history": [{"ago": now - h[0], "from": h[1], "event": h[2], "to": h[3],
                         "detail": h[4]} for h in self.history],
        }
