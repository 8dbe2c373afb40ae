"""A handshake-initiation flood, run as a script inside the lab's `wan`
namespace: python flood.py ROUTER_PUB_B64 TARGET PORT SOURCES_JSON ROUNDS SECONDS

Each source (address, port) gets a Device of the core with its own random
key and the router as its peer, so every datagram is a real initiation
built by the core's own code with a valid MAC1 for the router's key - the
expensive kind, which makes the router do Diffie-Hellman unless it asks
for a cookie. The router does not know these keys: none may ever complete.
Sends ROUNDS initiations per source spread over SECONDS, then listens 1 s
and prints one JSON line: sent, cookie_replies, responses, other.
Bounded by construction: at most len(SOURCES) * ROUNDS datagrams.
"""

import base64
import json
import os
import select
import socket
import sys
import time


def main(argv):
    pub, target, port, sources, rounds, seconds = (base64.b64decode(argv[0]), argv[1], int(argv[2]),
                                                   json.loads(argv[3]), int(argv[4]), float(argv[5]))
    from vpnspot_router.crypto import default_provider
    from vpnspot_router.core.cryptoapi import x25519_clamp
    from vpnspot_router.core.wireguard import actions as A
    from vpnspot_router.core.wireguard.device import Device

    provider = default_provider()
    packet = bytes.fromhex("450000200000000040010000") + socket.inet_aton("10.77.0.2") \
        + socket.inet_aton("10.77.0.1") + b"\x08\x00\x00\x00\x00\x01\x00\x01"
    devices = []
    for _ in sources:
        dev = Device(provider, x25519_clamp(os.urandom(32)))
        dev.add_peer(pub, endpoint=(target, port), allowed_ips=["0.0.0.0/0"])
        devices.append(dev)
    messages = []       # (source index, bytes), round by round
    for r in range(rounds):
        now = 1000.0 + r * 10.0     # past REKEY_TIMEOUT each round: a fresh initiation
        for i, dev in enumerate(devices):
            for action in dev.send_packet(packet, now):
                if action.kind == A.SEND:
                    messages.append((i, action.data))
    socks = []
    for addr, sport in sources:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, sport))
        s.setblocking(False)
        socks.append(s)
    counts = {"sent": 0, "cookie_replies": 0, "responses": 0, "other": 0}

    def drain(timeout):
        ready, _, _ = select.select(socks, [], [], timeout)
        for s in ready:
            while True:
                try:
                    data = s.recv(2048)
                except BlockingIOError:
                    break
                kind = data[0] if data else 0
                key = {3: "cookie_replies", 2: "responses"}.get(kind, "other")
                counts[key] += 1

    gap = seconds / max(1, len(messages))
    start = time.monotonic()
    for n, (i, data) in enumerate(messages):
        try:
            socks[i].sendto(data, (target, port))
            counts["sent"] += 1
        except (BlockingIOError, OSError):
            pass
        if n % 50 == 49:
            drain(0)
            lag = start + n * gap - time.monotonic()
            if lag > 0:
                time.sleep(lag)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        drain(0.1)
    counts["seconds"] = round(time.monotonic() - start, 2)
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
