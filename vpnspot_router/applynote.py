"""What a saved settings change did in the running agent, in plain words,
for the web UI and the console (both send the agent its "reload" request
after saving; driver.ServiceAgent.reload_settings answers).

The agent's answer: {"ok": True, "changed", "live", "reconnect", "restart",
"guard"} or {"ok": False, "error"}. `keys` are the settings the face saved
(the agent's "changed" also holds what an earlier edit of the file left
unapplied; that is named too)."""

# = driver.RELOAD_RECONNECT (not imported: the agent's module)
TUNNEL_KEYS = ("region", "server", "mtu", "server_source")
RESTART_HOW = "/etc/init.d/vpnspot restart"


def summarize(keys, answer):
    """-> {"now": [keys applied now], "restart": [keys that wait for a
    restart], "later": [keys saved, used when next needed], "problem":
    str|None}. `answer` is the agent's reply to "reload"."""
    if not answer.get("ok"):
        return {"now": [], "restart": sorted(keys), "later": [],
                "problem": "the running agent did not apply it: %s; it applies when the "
                           "agent starts" % (answer.get("error") or "no answer")}
    live = list(answer.get("live") or []) + list(answer.get("reconnect") or [])
    restart = list(answer.get("restart") or [])
    now = sorted(set(k for k in live if k in keys or k in (answer.get("changed") or [])))
    waits = sorted(set(k for k in restart))
    later = sorted(k for k in keys if k not in now and k not in waits)
    guard = answer.get("guard")
    problem = None
    if isinstance(guard, str):
        problem = "the router's boot guard did not follow it: %s" % guard
    return {"now": now, "restart": waits, "later": later, "problem": problem}


def sentence(s):
    """summarize()'s dict as one plain sentence (no problem: that is shown
    on its own)."""
    parts = []
    if s["now"]:
        parts.append("applied now: %s" % ", ".join(s["now"]))
    if s["restart"]:
        parts.append("applies after a restart of the agent (%s): %s"
                     % (RESTART_HOW, ", ".join(s["restart"])))
    if s["later"]:
        tunnel = [k for k in s["later"] if k in TUNNEL_KEYS]
        other = [k for k in s["later"] if k not in TUNNEL_KEYS]
        if tunnel:
            parts.append("used by the next connection: %s" % ", ".join(tunnel))
        if other:
            parts.append("saved, used where it is needed (not by the running tunnel): %s"
                         % ", ".join(other))
    return "; ".join(parts) or "nothing changed"
