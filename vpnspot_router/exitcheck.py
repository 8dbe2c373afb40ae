"""The public address seen through the tunnel: when the agent asks, and what it keeps.

Owns: deciding when the agent asks the VPN Spot service's connection check
(provider/client.py connection_check(), sent out of the tunnel interface
only, so the answer is what the internet sees of the household's traffic),
running that one request in a background thread so the main loop keeps
watching the tunnel meanwhile, and the "exit_address" entry of
RUN/agent.json that the web UI and `vpnspot status` show. The driver
(driver.py) says which tunnel is current; this module does the rest.

Rules:
  - a tunnel to a VPN Spot server is checked as soon as it is connected
    (its handshake done), then every `refresh` seconds while it stays; a
    check that fails is retried after `retry` seconds;
  - another tunnel (new server, reconnect, failover) or none at all forgets
    the answer at once: an address seen through the old tunnel says nothing
    about the new one;
  - a tunnel to a server that is not VPN Spot's (the household's own
    WireGuard server) is not checked: the VPN Spot service could only say
    that it is not one of its exits;
  - one check at a time; an answer for a tunnel that is no longer current
    is dropped; a failed refresh keeps the last answer for the same tunnel.

The entry (None while no tunnel is connected):
  {"state": "checking", "server": ID}
  {"state": "checked", "server": ID, "address": TEXT, "vpnspot": BOOL, "checked_at": UNIX}
  {"state": "failed", "server": ID, "error": TEXT, "checked_at": UNIX}
  {"state": "own_server"}

Privacy: the address is the one VPN Spot's side saw. Through the tunnel
that is a VPN Spot exit, not the household's; when it is not (the
"vpnspot": false case) it may be the household's own address, so it is
never logged, stays in the RAM-backed run directory, and is never part of a
telemetry report (core/telemetry.py has no field for it).
"""

import logging
import threading
import time

log = logging.getLogger("vpnspot.agent")

REFRESH = 300.0             # seconds between checks of a connected tunnel
RETRY = 30.0                # after a check that failed
TIMEOUT = 5.0               # one attempt, no retries: the next check is the retry
OWN_SERVER = "own_server"   # target: a tunnel that is up, to a server not VPN Spot's


def _in_thread(fn):
    threading.Thread(target=fn, daemon=True, name="vpnspot-exit-check").start()


class ExitCheck:
    """check(ifname) -> an object with .address and .vpnspot, or raises
    (a ProviderError's .message is kept as the reason). spawn(fn) runs fn
    in the background (tests pass one that runs it at once); wall() is the
    clock for "checked_at"."""

    def __init__(self, check, refresh=REFRESH, retry=RETRY, spawn=_in_thread, wall=time.time):
        self.check = check
        self.refresh = float(refresh)
        self.retry = float(retry)
        self.spawn = spawn
        self.wall = wall
        self.checks = 0             # started, for the status and tests
        self._lock = threading.Lock()
        self._done = []             # (key, ok, value, wall) from the background
        self._key = None
        self._server = None
        self._entry = None
        self._due = None
        self._running = False

    def entry(self):
        return None if self._entry is None else dict(self._entry)

    def update(self, now, target):
        """Call on every status write. target: None (no connected tunnel),
        OWN_SERVER, or (key, server id, tunnel interface) where key changes
        whenever the tunnel does."""
        with self._lock:
            done, self._done = self._done, []
        if done:
            self._running = False
        if target is None or target == OWN_SERVER:
            if self._key != target:
                self._key, self._server, self._due = target, None, None
                self._entry = None if target is None else {"state": OWN_SERVER}
            return
        key, server, ifname = target
        if key != self._key:
            self._key, self._server, self._due = key, server, now
            self._entry = {"state": "checking", "server": server}
        for item_key, ok, value, wall in done:
            if item_key == self._key:
                self._answered(now, ok, value, wall)
        if not self._running and self._due is not None and now >= self._due:
            self._running = True
            self._due = None
            self.checks += 1
            self.spawn(lambda: self._run(key, ifname))

    def _answered(self, now, ok, value, wall):
        if ok:
            address, vpnspot = value
            if vpnspot:
                log.info("exit check: the VPN Spot service sees this tunnel's traffic come from "
                         "a VPN Spot exit")
            else:
                log.warning("exit check: the VPN Spot service says this tunnel's traffic does NOT "
                            "come from a VPN Spot exit; the household's traffic is not protected")
            self._entry = {"state": "checked", "server": self._server, "address": address,
                           "vpnspot": bool(vpnspot), "checked_at": wall}
            self._due = now + self.refresh
            return
        log.info("exit check failed: %s; again in %.0f s", value, self.retry)
        if (self._entry or {}).get("state") != "checked":
            self._entry = {"state": "failed", "server": self._server, "error": value,
                           "checked_at": wall}
        self._due = now + self.retry

    def _run(self, key, ifname):
        try:
            answer = self.check(ifname)
            item = (key, True, (answer.address, answer.vpnspot), self.wall())
        except Exception as e:      # any failure is a failed check, never the agent's end
            reason = getattr(e, "message", None) or str(e) or type(e).__name__
            item = (key, False, reason, self.wall())
        with self._lock:
            self._done.append(item)
