"""Backend data -> the text lines a technician reads on an 80-column terminal.

One function per command; the framing (wrapping at 79 columns, ASCII only,
the prompt) is core/console_proto.py's. Keep columns narrow enough that a
line stays under 80 before wrapping, so tables do not break.
"""

from vpnspot_router.core.config import DNS_MODE_TEXT


def _bytes(n):
    if n is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def status(d):
    age = d.get("handshake_age")
    kill = {"on": "ON (LAN traffic leaves only through the tunnel)",
            "off": "OFF (LAN traffic may leave without the VPN)",
            "unknown": "unknown (cannot read the firewall)"}.get(d.get("kill_switch"), "?")
    lines = [
        "state:        %s" % d.get("state"),
        "agent:        %s" % d.get("agent"),
        "server:       %s" % (d.get("server") or "-"),
        "handshake:    %s" % ("never" if age is None else "%.0f s ago" % age),
        "traffic:      rx %s, tx %s" % (_bytes(d.get("rx_bytes")), _bytes(d.get("tx_bytes"))),
        "kill switch:  %s" % kill,
        "region:       %s" % d.get("region"),
        "enrolled:     %s" % ("yes" if d.get("enrolled") else "no"),
        "provider:     %s" % d.get("provider"),
    ]
    dbg = d.get("debug_session") or {}
    if dbg.get("open"):
        lines.append("debug:        open (from the %s), %d min left; debug close ends it"
                     % (dbg.get("opened_by") or "?", (dbg.get("expires_in") or 0) // 60))
    for note in d.get("notes") or []:
        lines.append("note: %s" % note)
    return lines


def diag(d):
    lines = []
    failed = 0
    for c in d["checks"]:
        lines.append("%-4s %-22s %s" % (c["result"], c["name"], c["hint"]))
        failed += c["result"] != "PASS"
    lines.append("%d checks, %d failed" % (len(d["checks"]), failed))
    return lines


def servers(d):
    lines = ["%-12s %-8s %-2s %-14s %4s %-4s %s" % ("ID", "REGION", "CC", "CITY", "LOAD", "IPV6",
                                                  "ENDPOINT")]
    for s in d["servers"]:
        lines.append("%-12s %-8s %-2s %-14s %3d%% %-4s %s" % (
            s["id"][:12], s["region"][:8], s["country"][:2], s["city"][:14], s["load"],
            "yes" if s["ipv6"] else "no", s["endpoint"]))
    return lines


def logs(d):
    return list(d["lines"]) + ["(%d lines from %s)" % (len(d["lines"]), d["source"])]


def debug_open(d):
    return ["debug session open for %d minutes; its data stays in RAM on this router"
            % (d["expires_in"] // 60),
            "and is deleted by debug close, by expiry, or a reboot.",
            "agent events: %s" % d.get("agent_events")]


def debug_close(d):
    return ["debug session closed; %d entries deleted" % d["purged"]]


def debug_show(d):
    lines = ["%d entries; the session ends in %d s" % (len(d["entries"]), d["expires_in"])]
    for t, category, text in d["entries"]:
        lines.append("%d %s %s" % (t, category, text))
    return lines


def config_get(d):
    lines = []
    for key, v in d["settings"].items():
        mark = ""
        if v.get("locked"):
            mark = " [locked by %s]" % v["locked"]
        elif v.get("source") != "default":
            mark = " [%s]" % v["source"]
        line = "%-22s %s%s" % (key, v["value"], mark)
        if key == "dns_mode" and v["value"] in DNS_MODE_TEXT:
            line += " (%s)" % DNS_MODE_TEXT[v["value"]]
        if v.get("staged") is not None:
            staged = v["staged"] if isinstance(v["staged"], str) else " ".join(v["staged"])
            line += "  -> %s (staged)" % staged
        lines.append(line)
    for note in d.get("notes") or []:
        lines.append("note: %s" % note)
    return lines


def config_set(d):
    value = d["value"] if isinstance(d["value"], str) else " ".join(d["value"])
    lines = ["staged: %s = %s (config diff to review, config commit to save)" % (d["key"], value)]
    if d["key"] == "dns_mode" and value in DNS_MODE_TEXT:
        lines.append("dns_mode %s: %s" % (value, DNS_MODE_TEXT[value]))
    if d.get("pending"):
        lines.append("before config commit: %s" % d["pending"])
    return lines


def _changes(changes):
    if not changes:
        return ["no changes"]
    return ["%s: %s -> %s" % tuple(c) for c in changes]


def config_diff(d):
    return _changes(d["changes"])


def config_commit(d):
    if not d["changes"] and not d.get("saved"):
        return ["nothing staged; nothing saved"]
    return _changes(d["changes"]) + ["saved to %s" % d["saved"], d["note"]]


def config_revert(d):
    return ["dropped %d staged change(s)" % d["dropped"]]


def factory_reset(d):
    lines = ["erased: %s" % (", ".join(d["erased"]) or "nothing (already at factory state)")]
    if d.get("restored"):
        lines.append("restored as shipped: %s" % ", ".join(d["restored"]))
    return lines + [d["note"]]


def bundle(d):
    lines = ["support bundle: %d bytes gzip+json, sha256 %s" % (d["bytes"], d["sha256"][:16]),
             "-----BEGIN VPNSPOT BUNDLE-----"]
    lines.extend(d["base64"].split())
    lines.append("-----END VPNSPOT BUNDLE-----")
    return lines


BY_COMMAND = {
    "status": status, "diag": diag, "servers": servers, "logs": logs,
    "debug open": debug_open, "debug close": debug_close, "debug show": debug_show,
    "config get": config_get, "config set": config_set, "config diff": config_diff,
    "config commit": config_commit, "config revert": config_revert,
    "factory-reset": factory_reset, "bundle": bundle,
}
