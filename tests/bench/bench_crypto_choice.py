"""Each crypto provider's speed for 64/512/1420-byte packets here, and the decision it leads to.

A script, not a test (speed depends on the machine). Run from the repository root:

    python tests/bench/bench_crypto_choice.py [seconds-per-measurement]

It probes this machine (hw/probe.py), measures every provider that loads
(OpenSSL, AF_ALG if the kernel has it, pure Python) with the same code the
agent runs on first start (crypto/select.py, default 0.03 s per size), and
prints the table, the weighted scores and the decision with its reason,
once as this machine is and once as if the WireGuard kernel module were
present. Nothing is cached.
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from vpnspot_router.core import offload  # noqa: E402
from vpnspot_router.crypto import select  # noqa: E402
from vpnspot_router.hw import probe  # noqa: E402
from vpnspot_router.hw.cli import format_decision  # noqa: E402


def main(argv):
    seconds = float(argv[1]) if len(argv) > 1 else select.DEFAULT_SLICE
    profile = probe.probe("/")
    found, problems = select.providers()
    start = time.perf_counter()
    measurements, failed = select.measure(found, seconds)
    elapsed = time.perf_counter() - start
    problems.update(failed)
    print("machine: %s, kernel %s, WireGuard module %s, AF_ALG %s"
          % (profile.cpu_model or profile.arch, profile.kernel_release,
             profile.wireguard_module, profile.af_alg))
    print("measured in %.2f s (%.3f s per provider and size)\n" % (elapsed, seconds))
    print("%-10s %12s %12s %12s   MB/s at 1420" % ("provider", "64 B pkt/s", "512 B pkt/s",
                                                  "1420 B pkt/s"))
    for name in sorted(measurements):
        m = measurements[name]
        print("%-10s %12.0f %12.0f %12.0f   %8.1f" % (name, m[64], m[512], m[1420],
                                                     m[1420] * 1420 / 1e6))
    for name in sorted(problems):
        print("%-10s not measured: %s" % (name, problems[name]))
    for label, module in (("as this machine is", None), ("if the kernel module were present", True)):
        decision = offload.decide(profile, module, measurements)
        decision.excluded = problems
        print("\n--- decision %s ---" % label)
        print(format_decision(decision).split("\n\n", 1)[-1])


if __name__ == "__main__":
    main(sys.argv)
