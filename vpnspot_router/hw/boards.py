"""Known SoCs from hardware/boards.json, and which one a Profile is.

Owns: loading the board data (a missing or broken file means "no known
boards", never a crash: the probe and the decision work without it) and
matching a Profile to an entry, by SoC id first, then by OpenWrt target
when the target names exactly one known SoC.
"""

import json
import os

DEFAULT_BOARDS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "hardware", "boards.json")


def load_boards(path=None):
    """{soc id: entry} from boards.json; {} when it is missing or unreadable."""
    try:
        with open(path or DEFAULT_BOARDS, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    socs = data.get("socs") if isinstance(data, dict) else None
    return socs if isinstance(socs, dict) else {}


def match(profile, boards):
    """(soc id, entry) for the profile, or (None, None) when unknown."""
    soc = (profile.soc or "").lower()
    if soc in boards:
        return soc, boards[soc]
    for key, entry in sorted(boards.items()):
        # "MT7621AT" or "mt7981b" are variants of the known part.
        if soc and soc.startswith(key):
            return key, entry
    if profile.arch == "x86" and "x86_64" in boards:
        return "x86_64", boards["x86_64"]
    if profile.os_target:
        hits = [k for k, e in sorted(boards.items()) if profile.os_target in e.get("targets", ())]
        if len(hits) == 1:
            return hits[0], boards[hits[0]]
    return None, None
