"""`vpnspot hw probe` and `vpnspot hw choose`: the probe and the offload decision for a technician.

Owns: the `hw` subcommand (registered into cli.py by register()). Output is
plain text for a person at the serial console, or JSON (--json) for the web
UI and scripts. Exit codes as cli.py: 0 ok, 2 bad usage (e.g. an unknown
--override name), nothing measured or written in that case.
"""

import argparse
import json
import sys

EXIT_OK = 0
EXIT_USAGE = 2


def _show(value):
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def format_profile(profile):
    lines = []
    for label, field in (("model", "model"), ("board name", "board_name"), ("SoC", "soc"),
                         ("architecture", "arch"), ("CPU", "cpu_model"),
                         ("CPU cores", "cpu_cores"), ("OS", "os_name"),
                         ("OS version", "os_version"), ("OpenWrt target", "os_target"),
                         ("kernel", "kernel_release"), ("CPU crypto features", "cpu_features"),
                         ("SIMD for ChaCha20", "simd"),
                         ("WireGuard module", "wireguard_module")):
        lines.append("%-22s %s" % (label + ":", _show(getattr(profile, field))))
    af_alg = {True: "works", False: "not available", None: "not checked"}[profile.af_alg]
    lines.append("%-22s %s" % ("AF_ALG sockets:", af_alg))
    if not profile.engines:
        lines.append("%-22s %s" % ("crypto engines:", "none"))
    for engine in profile.engines:
        lines.append("%-22s %s (module %s, priority %s): ChaCha20-Poly1305 %s" % (
            "crypto engine:", engine.family, _show(engine.modules), _show(engine.priority),
            "yes" if engine.has_chacha20_poly1305 else "no"))
        lines.append("%-22s %s" % ("", _show(engine.algorithms)))
    for alg in sorted(profile.cpu_impls):
        drivers = [i.get("driver") or i.get("name") for i in profile.cpu_impls[alg]]
        lines.append("%-22s %s: %s" % ("kernel CPU code:", alg, ", ".join(drivers)))
    for note in profile.notes:
        lines.append("%-22s %s" % ("note:", note))
    return "\n".join(lines)


def format_decision(decision):
    lines = ["%-10s %14s %14s %14s %8s" % ("provider", "64 B pkt/s", "512 B pkt/s",
                                           "1420 B pkt/s", "score")]
    for name in sorted(decision.measurements):
        m = decision.measurements[name]
        lines.append("%-10s %14.0f %14.0f %14.0f %8.2f" % (
            name, m.get(64, 0.0), m.get(512, 0.0), m.get(1420, 0.0),
            decision.scores.get(name, 0.0)))
    for name in sorted(decision.excluded):
        lines.append("%-10s not measured: %s" % (name, decision.excluded[name]))
    lines.append("")
    lines.append("data plane: %s" % decision.data_plane)
    lines.append("provider:   %s" % (decision.provider or "-"))
    lines.append("reason:     %s" % decision.reason)
    if decision.cached:
        lines.append("(measurements from the cache; --no-cache measures again)")
    for warning in decision.warnings:
        lines.append("warning:    %s" % warning)
    return "\n".join(lines)


def cmd_probe(args):
    from vpnspot_router.hw import boards, probe

    profile = probe.probe(args.root)
    if args.json:
        out = profile.as_dict()
        soc, entry = boards.match(profile, boards.load_boards())
        out["known_soc"] = soc
        out["expected_wireguard_mbps"] = entry.get("wireguard_mbps") if entry else None
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print(format_profile(profile))
        soc, entry = boards.match(profile, boards.load_boards())
        if entry and entry.get("wireguard_mbps"):
            mbps = entry["wireguard_mbps"]
            print("%-22s %s: kernel WireGuard about %s-%s Mbit/s (public benchmark)"
                  % ("known SoC:", entry.get("name", soc), mbps.get("min"), mbps.get("max")))
    return EXIT_OK


def cmd_choose(args):
    from vpnspot_router.core import offload
    from vpnspot_router.crypto import select
    from vpnspot_router.hw import probe

    try:
        offload.normalize_override(args.override)
    except offload.OffloadError as e:
        print("error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    profile = probe.probe(args.root)
    decision = select.choose(profile, override=args.override, cache_path=args.cache,
                             use_cache=not args.no_cache)
    if args.json:
        out = decision.as_dict()
        out["cache_key"] = decision.cache_key
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print(format_decision(decision))
    return EXIT_OK


def register(sub):
    """Add `hw probe` and `hw choose` to the `vpnspot` parser's subcommands."""
    from vpnspot_router.crypto.select import DEFAULT_CACHE

    hw = sub.add_parser("hw", help="board and crypto probe, and the offload decision")
    hsub = hw.add_subparsers(dest="hw_command", metavar="ACTION")
    hsub.required = True
    p = hsub.add_parser("probe", help="print the board and crypto-engine profile")
    p.add_argument("--root", default="/", help="read the router's files under DIR (default /)",
                   metavar="DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_probe)
    c = hsub.add_parser("choose", help="measure the crypto providers and print the decision")
    c.add_argument("--json", action="store_true", help="print JSON")
    c.add_argument("--no-cache", action="store_true", help="measure again even if cached")
    c.add_argument("--override", metavar="NAME",
                   help="force a choice: auto, kernel, userspace, openssl, afalg or pure")
    c.add_argument("--cache", default=DEFAULT_CACHE, metavar="FILE",
                   help="measurement cache (default %s)" % DEFAULT_CACHE)
    c.add_argument("--root", default="/", help=argparse.SUPPRESS, metavar="DIR")
    c.set_defaults(func=cmd_choose)
