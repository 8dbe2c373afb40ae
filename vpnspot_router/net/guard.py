"""The boot guard: the one owner of table `inet vpnspot_guard` and its guard.d files.

Owns: deciding, from the effective settings (core/config.Settings through
configstore), which guard.d files the fw4 include needs, writing each of
them atomically and only when its content changes (flash wear), removing
the ones not wanted, and loading or removing the guard table now with one
`nft -f` transaction. Everyone who changes the kill switch or dns_mode goes
through `BootGuard.sync`: `vpnspot guard sync` (the init script and the WAN
hotplug hook, firmware_pkg/package/vpnspot/files/functions.sh), the agent at
start and on its control requests "kill_switch" and "guard_sync", and the
web UI and the console when no agent runs. Keep in step with the guard file
(firmware_pkg/package/vpnspot/files/vpnspot.nft: table, set and chain names)
and README "The boot guard".

What the guard does (the file says it in nft):
  forward  LAN traffic may leave only through the tunnel device;
  input    LAN DNS (UDP/TCP 53 and DNS over TLS 853) to the router itself is
           dropped in chain `dns`, so the router's own resolver (dnsmasq)
           cannot forward LAN names to the internet provider over the WAN
           before the agent has a tunnel resolver. The router's own lookups
           (output) are never touched. With the agent's table loaded, its
           prerouting DNAT sends LAN DNS to the tunnel resolver before the
           input hook sees it.

Desired state, from the settings:
  kill switch off   kill-switch-off.nft (`delete table inet vpnspot_guard`),
                    nothing else: the table is gone now and after every
                    firewall reload;
  dns_mode isp      dns-off.nft (`flush chain inet vpnspot_guard dns`): the
                    household chose to have names resolved by its internet
                    provider;
  LAN devices       lan-devices.nft (`flush set` + `add element`) when they
                    are not the shipped set { "br-lan" }.
Settings that cannot be read (a damaged provisioning file, say) count as the
shipped defaults: the guard stays fully on (fail closed), and the error is
reported to the caller.

Contract with the LAN-networks code (core/lannets.py): the guard matches LAN
devices through the named set `lan_devices` (type ifname) of table inet
vpnspot_guard, "br-lan" as shipped. `sync(lan_devices=[...])` replaces its
elements through lan-devices.nft; `sync(lan_devices=None)` leaves that file
as the last caller that knew the devices wrote it.

Includes are inlined: the transaction loaded here is the guard file with its
`include ".../guard.d/*.nft"` line replaced by the text of the files in the
guard directory (every *.nft there, in name order, as nft's include reads
them), so this module and fw4 load the same thing, and a fake can read it.
"""

import os
import re

from vpnspot_router.net import firewall as fw_mod

TABLE = "vpnspot_guard"
GUARD_FILE = "/usr/share/nftables.d/ruleset-post/90-vpnspot.nft"
GUARD_DIR_NAME = "guard.d"                  # in the state directory (/etc/vpnspot)
SHIPPED_LAN_DEVICES = ("br-lan",)
KILL_SWITCH_OFF = "kill-switch-off.nft"
DNS_OFF = "dns-off.nft"
LAN_DEVICES = "lan-devices.nft"
OWNED = (KILL_SWITCH_OFF, DNS_OFF, LAN_DEVICES)
INCLUDE_RE = re.compile(r'^include "[^"]*/guard\.d/\*\.nft"[ \t]*$', re.M)
IFNAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


class GuardError(Exception):
    """The guard could not be brought to the wanted state; the message says why."""


def valid_ifname(name):
    return isinstance(name, str) and 0 < len(name) <= 15 and all(c in IFNAME_CHARS for c in name)


def desired_files(kill_switch, dns_guard, lan_devices):
    """{file name: text or None (absent)} for the guard.d files this module
    owns. lan_devices None: the lan-devices file is not decided here."""
    files = dict((name, None) for name in OWNED)
    if not kill_switch:
        files[KILL_SWITCH_OFF] = "delete table inet %s\n" % TABLE
        return files
    if not dns_guard:
        files[DNS_OFF] = "flush chain inet %s dns\n" % TABLE
    if lan_devices is None:
        del files[LAN_DEVICES]
        return files
    devices = []
    for name in lan_devices:
        if not valid_ifname(name):
            raise GuardError("LAN device %r is not an interface name (1-15 of letters, digits, "
                             "'-', '_', '.'); the guard was not changed" % (name,))
        if name not in devices:
            devices.append(name)
    if not devices:
        raise GuardError("no LAN device given; the guard was not changed")
    if tuple(devices) != SHIPPED_LAN_DEVICES:
        files[LAN_DEVICES] = ("flush set inet %s lan_devices\nadd element inet %s lan_devices "
                              "{ %s }\n" % (TABLE, TABLE, ", ".join('"%s"' % d for d in devices)))
    return files


def transaction(guard_text, guard_dir, guard_file="the guard file", wanted=None):
    """The guard file with its guard.d include replaced by the files' text;
    `wanted` ({name: text or None}) stands in for the files it names."""
    wanted = wanted or {}
    if len(INCLUDE_RE.findall(guard_text)) != 1:
        raise GuardError("%s has no line `include \".../guard.d/*.nft\"` (or more than one): "
                         "not the guard this agent ships; reinstall the vpnspot package" % guard_file)
    parts = []
    try:
        names = set(n for n in os.listdir(guard_dir) if n.endswith(".nft") and not n.startswith("."))
    except FileNotFoundError:
        names = set()
    names.update(wanted)
    for name in sorted(names):
        path = os.path.join(guard_dir, name)
        if name in wanted:
            if wanted[name] is not None:
                parts.append("# %s\n%s" % (path, wanted[name]))
            continue
        try:
            with open(path) as f:
                parts.append("# %s\n%s" % (path, f.read()))
        except OSError as e:
            raise GuardError("cannot read %s: %s" % (path, e.strerror))
    inlined = "".join(p if p.endswith("\n") else p + "\n" for p in parts)
    return INCLUDE_RE.sub(lambda m: inlined.rstrip("\n"), guard_text)


class NftGuard:
    """The real adapter: `apply(text)` loads a transaction, `status()` reads
    the loaded table back."""

    def __init__(self, nft="nft"):
        self.nft = nft

    def apply(self, text):
        proc = fw_mod.run_nft(self.nft, ["-f", "-"], text, GuardError)
        if proc.returncode != 0:
            raise GuardError("nft rejected the boot guard (the loaded rules are unchanged): %s"
                             % proc.stderr.strip())

    def status(self):
        items = fw_mod.list_table(self.nft, TABLE, GuardError)
        if items is None:
            return {"loaded": False, "dns_guard": False, "lan_devices": []}
        out = {"loaded": True, "dns_guard": False, "lan_devices": []}
        for item in items:
            if "rule" in item and item["rule"].get("chain") == "dns":
                out["dns_guard"] = True
            if "set" in item and item["set"].get("name") == "lan_devices":
                out["lan_devices"] = [e for e in item["set"].get("elem", []) if isinstance(e, str)]
        return out


class FakeNftGuard:
    """In memory: reads a transaction the way nft would for the statements
    the guard and its files use; `fail_next` makes the next apply fail."""

    def __init__(self):
        self.state = None
        self.history = []
        self.fail_next = None

    def apply(self, text):
        if self.fail_next:
            message, self.fail_next = self.fail_next, None
            raise GuardError(message)
        state = dict(self.state) if self.state else None
        lines = [ln.strip() for ln in text.splitlines()]
        i = 0
        while i < len(lines):
            line = lines[i]
            if line == "table inet %s {}" % TABLE:
                state = state or {"dns_guard": False, "lan_devices": []}
            elif line == "delete table inet %s" % TABLE:
                if state is None:
                    raise GuardError("No such file or directory: table inet %s" % TABLE)
                state = None
            elif line == "table inet %s {" % TABLE:
                state = {"dns_guard": False, "lan_devices": []}
                depth = 1
                chain = None
                while depth:
                    i += 1
                    inner = lines[i]
                    depth += inner.count("{") - inner.count("}")
                    if inner.startswith("chain "):
                        chain = inner.split()[1]
                    elif inner.startswith("elements = {"):
                        state["lan_devices"] = re.findall(r'"([^"]+)"', inner)
                    elif chain == "dns" and "drop" in inner:
                        state["dns_guard"] = True
            elif line.startswith(("flush chain", "flush set", "add element")):
                if state is None:
                    raise GuardError("No such file or directory: %s" % line)
                if line == "flush chain inet %s dns" % TABLE:
                    state["dns_guard"] = False
                elif line == "flush set inet %s lan_devices" % TABLE:
                    state["lan_devices"] = []
                elif line.startswith("add element inet %s lan_devices" % TABLE):
                    state["lan_devices"] += re.findall(r'"([^"]+)"', line)
            elif line and not line.startswith("#"):
                raise GuardError("fake nft: unexpected statement %r" % line)
            i += 1
        self.state = state
        self.history.append(text)

    def status(self):
        if self.state is None:
            return {"loaded": False, "dns_guard": False, "lan_devices": []}
        return dict(self.state, loaded=True)


class BootGuard:
    """`sync(settings=None, lan_devices=None)`: bring the guard.d files and
    the loaded table in line with the settings (read from `paths` when not
    given). Returns {"kill_switch", "dns_guard", "written", "removed",
    "loaded", "problem"}; "problem" is the settings error that made it fail
    closed, else None. GuardError when the files or nft fail."""

    def __init__(self, paths=None, state_dir="/etc/vpnspot", guard_file=GUARD_FILE, nft=None):
        self.paths = paths
        self.guard_dir = os.path.join(state_dir, GUARD_DIR_NAME)
        self.guard_file = guard_file
        self.nft = nft or NftGuard()

    def installed(self):
        """False where the package's guard file is absent (a development
        machine): nothing to keep in step there."""
        return os.path.isfile(self.guard_file)

    def settings(self):
        """(kill_switch, dns_guard, problem) from the settings files."""
        from vpnspot_router import configstore
        from vpnspot_router.core.config import ConfigError
        try:
            settings, _ = configstore.load_settings(self.paths)
        except (ConfigError, OSError, UnicodeError) as e:
            return True, True, str(e)
        return bool(settings.kill_switch), settings.dns_mode != "isp", None

    def sync(self, settings=None, lan_devices=None):
        if settings is None:
            kill_switch, dns_guard, problem = self.settings()
        else:
            kill_switch, dns_guard, problem = bool(settings.kill_switch), \
                settings.dns_mode != "isp", None
        wanted = desired_files(kill_switch, dns_guard, lan_devices)
        try:
            with open(self.guard_file) as f:
                guard_text = f.read()
        except OSError as e:
            raise GuardError("%s: cannot read the boot guard: %s" % (self.guard_file, e.strerror))
        # Loaded first: nft checks the whole transaction, and a refusal
        # leaves both the loaded rules and the files as they were.
        self.nft.apply(transaction(guard_text, self.guard_dir, self.guard_file, wanted))
        written, removed = self._files(wanted)
        loaded = self.nft.status()
        if loaded["loaded"] != kill_switch:
            raise GuardError("the boot guard is %s after loading %s; a file in %s overrides "
                             "the settings" % ("loaded" if loaded["loaded"] else "not loaded",
                                               self.guard_file, self.guard_dir))
        return {"kill_switch": kill_switch, "dns_guard": kill_switch and dns_guard,
                "written": written, "removed": removed, "loaded": loaded, "problem": problem}

    def _files(self, wanted):
        from vpnspot_router.store import FileStore
        written, removed = [], []
        os.makedirs(self.guard_dir, exist_ok=True)
        for name, text in sorted(wanted.items()):
            path = os.path.join(self.guard_dir, name)
            try:
                with open(path) as f:
                    current = f.read()
            except FileNotFoundError:
                current = None
            except OSError as e:
                raise GuardError("cannot read %s: %s" % (path, e.strerror))
            if current == text:
                continue
            try:
                if text is None:
                    os.unlink(path)
                    removed.append(path)
                else:
                    FileStore(path, keep_last_good=False).write(text.encode())
                    written.append(path)
            except OSError as e:
                raise GuardError("cannot %s %s: %s" % ("remove" if text is None else "write",
                                                       path, e.strerror or e))
        return written, removed


def describe(result):
    """One line for logs and the CLI."""
    if not result["kill_switch"]:
        text = "boot guard off (kill switch off): LAN traffic may leave without the VPN"
    else:
        text = "boot guard on: LAN traffic leaves only through the tunnel; LAN DNS to the " \
               "router %s" % ("blocked until the tunnel resolver takes it" if result["dns_guard"]
                              else "allowed (dns_mode isp: names go to your internet provider)")
        devices = result["loaded"].get("lan_devices")
        if devices:
            text += "; LAN devices %s" % ", ".join(devices)
    if result["problem"]:
        text += " (the settings cannot be read, so the guard is fully on: %s)" % result["problem"]
    return text
