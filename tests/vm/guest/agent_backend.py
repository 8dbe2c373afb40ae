"""Runs the agent's own data-plane choice inside the router VM for tests/vm
(not a test module): the offload decision (hw probe, measured providers,
the configuration's `crypto` override) -> tunnel/backend.select() -> the
supervisor driver's _start_backend(), exactly as `vpnspot agent` does,
on a WireGuard config the host test wrote.

    python agent_backend.py CONFIG IFNAME STATE_DIR [OVERRIDE]
        -> one JSON line {"crypto", "data_plane", "status"}

A kernel interface stays up after this exits (the host pings through it);
the fixture removes it.
"""

import json
import sys

from vpnspot_router import agent, driver
from vpnspot_router.core import config
from vpnspot_router.core.wgconf import parse
from vpnspot_router.crypto import default_provider


def main(argv):
    conf_path, ifname, state_dir = argv[1:4]
    override = argv[4] if len(argv) > 4 else "auto"
    with open(conf_path) as f:
        conf = parse(f.read(), conf_path)
    _profile, crypto = agent._crypto_decision(state_dir, override)
    sa = driver.ServiceAgent(config.Settings(), {"lan": "lo", "wan": "eth0", "tunnel": ifname},
                             state_dir, state_dir, default_provider(), crypto=crypto,
                             firewall=object(), routing=object())
    plane = sa._start_backend(conf)
    print(json.dumps({"crypto": crypto, "data_plane": sa.data_plane.as_dict(),
                      "status": plane.status()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
