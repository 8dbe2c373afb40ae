"""Clock jumps, proved on the core with a fake clock.

Why not in the lab: the wall clock (CLOCK_REALTIME) is one per machine.
Linux time namespaces (`unshare -T`) offset only CLOCK_MONOTONIC and
CLOCK_BOOTTIME, so a `date -s` in any namespace moves the clock of every
process on this shared machine, other test runs included. The agent does
not need it anyway, which the first test pins down: protocol timers run on
time.monotonic() (given to the core as `now`), and the wall clock enters
only through `Device.wall_offset`, set once when the data plane starts
(tunnel/dataplane.py), for the TAI64N stamp in initiations.

So the cases are:
  - the monotonic `now` jumping forward (a resume from suspend, a stalled
    process): sessions expire and the tunnel is rebuilt; backward (which
    CLOCK_MONOTONIC never does): traffic flows on, but timers armed before
    the jump wait the jump out - pinned below, with the driver's clock;
  - the wall clock set back between two runs of the agent (an RTC-less
    router booting to 1970 or to its build date, then fixed by NTP): the
    new agent's initiations carry older TAI64N stamps than the gateway has
    seen, and WireGuard's replay protection makes the gateway drop them.
    What the agent does: it keeps retrying every REKEY_TIMEOUT and the kill
    switch keeps LAN traffic in; the tunnel comes up once its wall clock
    passes the last stamp the gateway saw (or the gateway restarts).
"""

import inspect
import os
import time

from vpnspot_router.core.wireguard import drops
from vpnspot_router.core.wireguard.actions import HANDSHAKE_COMPLETE
from vpnspot_router.core.wireguard.constants import REKEY_TIMEOUT
from vpnspot_router.core.wireguard.device import Device
from vpnspot_router.tunnel import dataplane

from core.pair import MSG_INITIATION, TunnelPair, of_type, private_key

CORE_DIR = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "vpnspot_router", "core")
HOUR = 3600.0


def test_the_core_never_reads_a_clock_of_its_own():
    for root, _dirs, files in os.walk(CORE_DIR):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(root, name)) as f:
                    text = f.read()
                assert "import time" not in text and "from time" not in text, name


def test_a_forward_jump_of_an_hour_expires_the_session_and_the_tunnel_is_rebuilt():
    pair = TunnelPair()
    pair.establish(100.0)
    old = pair.a.peer.current
    now = 100.0 + HOUR
    pair.tick(now)
    pair.flush(now)
    # Both sides' timers fire at the jump, so both may initiate at once;
    # the crossed handshakes settle within a REKEY_TIMEOUT or two.
    packet = pair.send_ping(pair.a, now + 0.1)
    pair.advance(now + 2 * REKEY_TIMEOUT + 1.0)
    assert packet in pair.b.delivered, pair.b.drops
    assert pair.a.peer.current is not old and pair.a.peer.current is not None
    assert HANDSHAKE_COMPLETE in pair.a.events


def test_a_backward_jump_of_an_hour_keeps_the_tunnel_carrying_traffic():
    pair = TunnelPair()
    pair.establish(HOUR + 100.0)
    now = 100.0
    pair.tick(now)
    pair.flush(now)
    packet = pair.send_ping(pair.a, now)
    assert pair.b.delivered == [packet], pair.b.drops
    reply = pair.send_ping(pair.b, now + 0.5)
    assert pair.a.delivered == [reply], pair.a.drops


def test_after_a_backward_jump_armed_timers_wait_out_the_jump_which_a_monotonic_clock_never_makes():
    # Timers are absolute timestamps (STYLE.md rule 5): a `now` that went
    # back an hour leaves a timer armed before the jump an hour further
    # away. That is why the driver's clock must be monotonic, and it is.
    assert inspect.signature(dataplane.DataPlane).parameters["clock"].default is time.monotonic
    pair = TunnelPair()
    pair.establish(HOUR + 100.0)
    armed = pair.a.device.next_deadline()
    # The gateway forgets the session (it restarted): data gets no answer.
    pair.b.device.remove_peer(pair.a.device.public_key)
    pair.b.peer = pair.b.device.add_peer(pair.a.device.public_key, endpoint=pair.a.addr,
                                         allowed_ips=["10.77.0.1/32"])
    pair.send_ping(pair.a, 100.0)
    assert pair.a.device.next_deadline() == armed
    times = pair.advance(armed + 2 * REKEY_TIMEOUT)
    assert times and times[0] == armed
    packet = pair.send_ping(pair.a, times[-1] + 1.0)
    assert packet in pair.b.delivered, (pair.b.drops, pair.a.events)


def restarted_router(pair, wall_offset):
    """A fresh Device with the router's key, as after an agent restart."""
    dev = Device(pair.provider, private_key(1))
    dev.wall_offset = wall_offset
    peer = dev.add_peer(pair.b.device.public_key, endpoint=pair.b.addr,
                        allowed_ips=["0.0.0.0/0", "::/0"])
    pair.a.device, pair.a.peer = dev, peer
    return dev


def test_a_wall_clock_set_back_between_runs_makes_initiations_look_replayed_until_it_catches_up():
    pair = TunnelPair()
    wall = 1_700_000_000.0           # the wall clock at the first run
    pair.a.device.wall_offset = wall
    pair.establish(10.0)
    # The agent restarts after its wall clock was set back by an hour.
    restarted_router(pair, wall - HOUR)
    pair.clear()
    packet = pair.send_ping(pair.a, 20.0)
    pair.advance(30.0)
    assert of_type(pair.a.sent, MSG_INITIATION), "the restarted router sent no initiation"
    assert drops.REPLAYED_HANDSHAKE in pair.b.drops
    assert packet not in pair.b.delivered and pair.a.peer.current is None
    # Retries continue (until REKEY_ATTEMPT_TIME gives up), each refused alike.
    tries = len(of_type(pair.a.sent, MSG_INITIATION))
    assert tries >= 2 and pair.b.drops.count(drops.REPLAYED_HANDSHAKE) == tries
    # NTP fixes the clock; the next agent run (or its next handshake once
    # its stamps pass the old ones) gets through.
    restarted_router(pair, wall + 60.0)
    pair.clear()
    packet = pair.send_ping(pair.a, 40.0)
    assert pair.b.delivered == [packet], pair.b.drops


def test_a_wall_clock_set_forward_between_runs_is_accepted_and_setting_it_back_later_is_not():
    # The mirror case: a stamp from the future is accepted and remembered,
    # so a router that booted once with its clock a day ahead locks itself
    # out of that gateway until real time passes that stamp: the tunnel is
    # down but nothing leaks (the kill switch holds); documented in README.
    pair = TunnelPair()
    wall = 1_700_000_000.0
    pair.a.device.wall_offset = wall + 24 * HOUR
    pair.establish(10.0)
    restarted_router(pair, wall)
    pair.clear()
    pair.send_ping(pair.a, 20.0)
    assert pair.b.drops == [drops.REPLAYED_HANDSHAKE]
