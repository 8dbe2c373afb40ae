"""How fast the pure provider is under MicroPython: the numbers in the README.

Run it (it is not a test):
  .venv/bin/python tests/micropython/runner.py --heapsize 512M tests/micropython/mp_bench.py

The collector stays off for the reason given in mp_driver.py, so the heap
must hold every round's garbage.

Prints milliseconds per operation, median of several rounds: one X25519
scalar multiplication, one whole handshake between two in-memory devices
(tests/core/pair.py: initiation, response and the first data packet, i.e.
four X25519 operations per side plus BLAKE2s and the AEADs), and sealing and
opening a 1420-byte packet (a full-MTU WireGuard payload). Randomness is
mp_driver.TestOnlyRandom: fine for timing, never for traffic.
"""

import gc
import sys
import time

gc.disable()

for _path in ("/input", "/input/tests", "/input/tests/micropython"):
    if _path not in sys.path:
        sys.path.append(_path)

from mp_driver import TestOnlyRandom                      # noqa: E402
from vpnspot_router.crypto.pure import PureProvider      # noqa: E402
from core import pair                                    # noqa: E402


def _median_ms(fn, rounds):
    times = []
    for _ in range(rounds):
        start = time.ticks_us()
        fn()
        times.append(time.ticks_diff(time.ticks_us(), start) / 1000.0)
    times.sort()
    return times[len(times) // 2]


def main():
    provider = PureProvider(TestOnlyRandom("bench"))
    pair.use_provider(provider)
    scalar = pair.private_key(7)
    point = provider.x25519_public(pair.private_key(8))
    print("x25519: %.1f ms" % _median_ms(lambda: provider.x25519(scalar, point), 5))

    def handshake():
        tunnel = pair.TunnelPair()
        tunnel.establish(1.0)
    setup = _median_ms(lambda: pair.TunnelPair(), 3)
    print("handshake (two devices, initiation + response + first packet): %.1f ms"
          % (_median_ms(handshake, 3) - setup))

    cipher = provider.aead(bytes(range(32)))
    packet = bytes(1420)
    sealed = cipher.seal(0, packet, b"")
    print("seal 1420 bytes: %.1f ms" % _median_ms(lambda: cipher.seal(1, packet, b""), 5))
    print("open 1420 bytes: %.1f ms" % _median_ms(lambda: cipher.open(0, sealed, b""), 5))


main()
