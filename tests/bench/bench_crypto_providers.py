"""Measure both crypto providers: handshake-sized and packet-sized operations.

Prints operations per second; asserts nothing (speed depends on the machine).
Run from the repository root:

    python3 tests/bench/bench_crypto_providers.py [seconds-per-measurement]

What it measures, per provider: one X25519 (the handshake does four), one
BLAKE2s/HMAC-BLAKE2s (the handshake does a few dozen), and sealing/opening a
64-, 512- and 1420-byte packet with the session cipher (1420 is WireGuard's
default MTU, the data path's common case).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from vpnspot_router.crypto.openssl import OpenSSLProvider  # noqa: E402
from vpnspot_router.crypto.pure import PureProvider  # noqa: E402

PACKET_SIZES = (64, 512, 1420)


def rate(fn, seconds):
    """Calls per second of fn(), measured for about `seconds`."""
    fn()  # warm caches and lazy imports outside the measurement
    calls = 0
    batch = 1
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed
        batch = min(batch * 2, 4096)


def measure(provider, seconds):
    key = provider.random_bytes(32)
    private = provider.random_bytes(32)
    public = provider.x25519_public(provider.random_bytes(32))
    rows = [
        ("x25519", rate(lambda: provider.x25519(private, public), seconds)),
        ("blake2s 128 B", rate(lambda: provider.blake2s(bytes(128)), seconds)),
        ("hmac_blake2s 32 B", rate(lambda: provider.hmac_blake2s(key, bytes(32)), seconds)),
    ]
    cipher = provider.aead(key)
    for size in PACKET_SIZES:
        packet = bytes(size)
        sealed = cipher.seal(1, packet, b"")
        rows.append(("aead seal %d B" % size, rate(lambda: cipher.seal(1, packet, b""), seconds)))
        rows.append(("aead open %d B" % size, rate(lambda: cipher.open(1, sealed, b""), seconds)))
    return rows


def main(argv):
    seconds = float(argv[1]) if len(argv) > 1 else 0.5
    results = {}
    for provider in (OpenSSLProvider(), PureProvider()):
        results[provider.name] = measure(provider, seconds)
    names = list(results)
    print("%-20s" % "operation" + "".join("%16s" % ("%s ops/s" % n) for n in names))
    for i, (label, _) in enumerate(results[names[0]]):
        line = "%-20s" % label
        for n in names:
            line += "%16.0f" % results[n][i][1]
        print(line)
    for size in PACKET_SIZES:
        for n in names:
            for label, ops in results[n]:
                if label == "aead seal %d B" % size:
                    print("%s seal throughput at %d B: %.2f MB/s" % (n, size, ops * size / 1e6))


if __name__ == "__main__":
    main(sys.argv)
