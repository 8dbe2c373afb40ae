"""Drives tunnel/kernel.py inside the router VM for tests/vm (not a test module).

    python kernel_driver.py apply SPEC.json   -> JSON {"empty":, "changes": [...], "status": {...}}
    python kernel_driver.py status IFNAME     -> JSON status

SPEC.json: {"ifname", "private_key", "listen_port", "addresses", "mtu",
"routes", "peers": [{"public_key", "preshared_key", "endpoint": [host, port],
"allowed_ips", "persistent_keepalive"}]} with keys in base64.
"""

import binascii
import json
import sys

from vpnspot_router.tunnel.kernel import DeviceConfig, KernelTunnel, PeerSettings


def key(text):
    return binascii.a2b_base64(text) if text else None


def main(argv):
    if argv[1] == "apply":
        with open(argv[2]) as f:
            spec = json.load(f)
        peers = [PeerSettings(key(p["public_key"]), key(p.get("preshared_key")),
                              tuple(p["endpoint"]) if p.get("endpoint") else None,
                              p.get("allowed_ips", []), p.get("persistent_keepalive", 0))
                 for p in spec["peers"]]
        t = KernelTunnel(spec["ifname"])
        change = t.apply(DeviceConfig(key(spec["private_key"]), spec.get("listen_port"), 0, peers),
                         addresses=spec.get("addresses", []), mtu=spec.get("mtu", 1420),
                         routes=spec.get("routes", []))
        print(json.dumps({"empty": change.empty, "changes": change.describe(), "status": t.status()}))
    elif argv[1] == "status":
        print(json.dumps(KernelTunnel(argv[2]).status()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
