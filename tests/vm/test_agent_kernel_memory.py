"""The agent with kernel WireGuard, end to end on the router VM, and what it holds.

The whole `vpnspot agent` runs in the VM: enrolled with the reference
service (in the namespace holding the VM's tap, with a wireguard-go
gateway), it chooses kernel WireGuard, connects (its first ICMP echo to
the server's tunnel-side address starts the kernel's handshake), carries a
LAN client's iperf3 traffic (a namespace behind br-lan inside the VM), and
has imported none of: cryptography (its X25519 and handshake probes run in
forked children: crypto.LazyProvider), pyroute2 (changes in a forked
child, reads on the standard library: tunnel/wgnetlink.py), the userspace
data plane, ssl/http.client/the API schema, bottle, pyserial.
tests/bench/agent_memory.py does the work; RSS is printed, not asserted.
"""

import importlib.util
import os

_BENCH = os.path.join(os.path.dirname(__file__), "..", "bench", "agent_memory.py")
_spec = importlib.util.spec_from_file_location("agent_memory", _BENCH)
agent_memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(agent_memory)


def test_the_kernel_mode_agent_connects_carries_lan_traffic_and_holds_no_heavy_module(vm_env):
    result = agent_memory.kernel_agent_in_vm(vm_env.lab, vm_env.ns, vm_env.vm, seconds=2, quiet=2.0)
    print("\n[agent memory, kernel WireGuard in the router VM] RSS idle %.1f MB, under load "
          "%.1f MB, peak %.1f MB; %d modules; load %s" % (
              result["rss_idle_mb"], result["rss_load_mb"], result["hwm_mb"], result["modules"],
              result["load"]))
    assert result["data_plane"] == "kernel"
    assert all(v for v in result["load"].values()), result["load"]
    assert result["heavy_modules"] == []
