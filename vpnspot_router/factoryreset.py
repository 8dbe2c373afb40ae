"""Factory reset: the one list of what the router keeps for the household,
and the one function that erases it.

Reset means everything the agent, the web UI and the console keep, except
what the ISP's provisioning provides in the read-only firmware image
(/rom): that comes back exactly as the image has it, so an ISP's router
still knows its provider, its locks and its CA after a reset, as after
OpenWrt's own `firstboot`. /etc/config/vpnspot goes back to the file the
package ships. Every entry point (the console's `factory-reset`, and any
later one) calls erase(); nothing else deletes these files.

What is kept, and so erased (KEPT is the list the README and the tests
read; erase() sweeps the directories whole, so a file missing from the list
- a `*.corrupt-*` copy moved aside by store.py, a `*.last-good` copy, a
temporary file of an interrupted write - goes too):

  STATE (/etc/vpnspot)      the enrollment, the router's WireGuard key, the
                            household's own server and its private key, the
                            bandwidth totals and unsent reports, the last
                            good server, the measured crypto choice, the web
                            UI's password, setup code and TLS key and
                            certificate, the household's kill switch and
                            DNS choices in guard.d
  CACHE (/var/lib/vpnspot)  the measured crypto choice
  RUN (/run/vpnspot)        status files, the debug session token, the web
                            UI's saved sessions and lockout (tmpfs, but the
                            next process would read them back)
  /etc/config/vpnspot       the household's settings (restored, with its
                            last-good and corrupt copies removed)

Kept on purpose: a file whose copy is in ROM/etc/vpnspot (the ISP's
provisioning file, its CA; restored to the image's content if changed);
guard.d/lan-devices.nft (which devices are the LAN, derived from the
router's network configuration, not a household choice: removing it would
narrow the boot guard to br-lan until the agent derives it again); in RUN
the agent's lock and control socket (held by a running process; they hold
nothing). The boot guard is then synced to the restored settings
(net/guard.py, the one owner of its state) where the package installed it.

The caller stops the agent first (its memory would write the totals and
reports back on its way out); the console does (console/backend.py).
"""

import os
import shutil

CONFIG = "/etc/config/vpnspot"
STATE = "/etc/vpnspot"
CACHE = "/var/lib/vpnspot"
RUN = "/run/vpnspot"
ROM = "/rom"
# The package installs its default /etc/config/vpnspot here too; the copy
# in ROM (a firmware image with the package) comes first.
SHIPPED_CONFIG = "/usr/share/vpnspot/vpnspot.config"
GUARD_FILE = "/usr/share/nftables.d/ruleset-post/90-vpnspot.nft"     # net/guard.py's
# What the package ships, for a router that has neither copy (the agent reads
# a missing option as this anyway: core/config.py's defaults).
MINIMAL_CONFIG = ("# VPN Spot: the household's settings (restored by a factory reset).\n\n"
                  "config vpnspot 'main'\n\n"
                  "config console 'console'\n\toption enabled '0'\n")

# (directory, file name, what it holds): every file the agent, the web UI
# and the console write. Keep in step with the modules that write them.
KEPT = (
    (STATE, "device.json", "the enrollment (device id and token)"),
    (STATE, "wg-key", "the router's WireGuard private key"),
    (STATE, "wg-household.conf", "the household's own WireGuard server, with its private key"),
    (STATE, "last-good.json", "the last server that completed a handshake"),
    (STATE, "accounting.json", "bandwidth totals of the last 30 days"),
    (STATE, "reports.json", "bandwidth reports not yet sent"),
    (STATE, "crypto-choice.json", "the measured crypto choice"),
    (STATE, "web-admin.json", "the web UI's password (scrypt)"),
    (STATE, "web-setup-code", "the web UI's first-run setup code"),
    (STATE, "web-key.pem", "the web UI's TLS private key"),
    (STATE, "web-cert.pem", "the web UI's TLS certificate"),
    (STATE, "web.key", "the web UI's TLS private key (px5g)"),
    (STATE, "web.crt", "the web UI's TLS certificate (px5g)"),
    (STATE, "guard.d/kill-switch-off.nft", "the household's choice: kill switch off"),
    (STATE, "guard.d/dns-off.nft", "the household's choice: names resolved by the ISP"),
    (STATE, "provisioning", "an ISP's provisioning file that is not in the firmware image"),
    (CACHE, "crypto-choice.json", "the measured crypto choice"),
    (RUN, "agent.json", "the agent's status"),
    (RUN, "tunnel.json", "the data plane's status"),
    (RUN, "debug.token", "the open debug session's token"),
    (RUN, "web-sessions.json", "the web UI's signed-in sessions (idle exit)"),
    (RUN, "web-lockout.json", "the web UI's sign-in lockout"),
    (CONFIG, "", "the household's settings (restored to the shipped file)"),
)
# Never removed: not a household's data, or held by a running process.
NOT_HOUSEHOLD = (("guard.d", "lan-devices.nft"),)
HELD_IN_RUN = ("agent.lock", "control.sock")


class ResetError(Exception):
    """A file could not be erased; the message names it. What was erased
    before stays erased (a second reset finishes the job)."""


class Places:
    """Where the files are; for_root() moves them all under a test root.
    A directory given as None is left alone (a console or agent run on
    other directories than the router's must not touch the machine's)."""

    def __init__(self, config=CONFIG, state=STATE, cache=CACHE, run=RUN, rom=ROM,
                 shipped_config=SHIPPED_CONFIG, guard_file=GUARD_FILE):
        self.config = config
        self.state = state
        self.cache = cache
        self.run = run
        self.rom = rom
        self.shipped_config = shipped_config
        self.guard_file = guard_file

    @classmethod
    def for_root(cls, root, **kw):
        def at(path):
            return os.path.join(root, path.lstrip("/"))
        kw.setdefault("guard_file", at(GUARD_FILE))
        return cls(at(CONFIG), at(STATE), at(CACHE), at(RUN), at(ROM), at(SHIPPED_CONFIG), **kw)

    def in_rom(self, path):
        """ROM's copy of `path` (an absolute path on the router), or None."""
        if self.rom is None:
            return None
        for real, here in ((STATE, self.state), (CONFIG, self.config)):
            if path == here or path.startswith(here.rstrip("/") + "/"):
                rom = os.path.join(self.rom, real.lstrip("/"), os.path.relpath(path, here))
                rom = os.path.normpath(rom)
                return rom if os.path.isfile(rom) else None
        return None


def _files(top):
    out = []
    if top is None:
        return out
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            out.append(os.path.join(dirpath, name))
    return out


def _remove(path, erased):
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise ResetError("cannot erase %s: %s" % (path, e.strerror or e))
    erased.append(path)


def _same(a, b):
    try:
        with open(a, "rb") as f, open(b, "rb") as g:
            return f.read() == g.read()
    except OSError:
        return False


def _restore(rom, path, restored):
    """path gets ROM's content again (atomically), unless it has it."""
    if _same(rom, path):
        return
    tmp = path + ".reset-tmp"
    try:
        shutil.copyfile(rom, tmp)
        os.chmod(tmp, os.stat(rom).st_mode & 0o777)
        os.replace(tmp, path)
    except OSError as e:
        raise ResetError("cannot restore %s from %s: %s" % (path, rom, e.strerror or e))
    restored.append(path)


def _shipped_config(places):
    rom = os.path.join(places.rom, CONFIG.lstrip("/")) if places.rom else None
    for path in (rom, places.shipped_config):
        if path is None:
            continue
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError:
            continue
    return MINIMAL_CONFIG.encode()


def erase(places=None, guard_nft=None):
    """Erase everything in KEPT (and every other file in its directories)
    except the ISP's files from ROM, restore /etc/config/vpnspot, sync the
    boot guard. Returns {"erased", "restored", "kept", "guard"} (lists of
    paths; guard: net/guard.describe()'s line, or None where no guard is
    installed). ResetError names a file that could not be erased."""
    from vpnspot_router.store import FileStore
    places = places or Places()
    erased, restored, kept = [], [], []
    for top in (places.state, places.cache):
        for path in _files(top):
            rel = os.path.relpath(path, top)
            rom = places.in_rom(path) if top == places.state else None
            if rom is not None:
                _restore(rom, path, restored)
                kept.append(path)
            elif top == places.state and tuple(rel.split(os.sep)) in NOT_HOUSEHOLD:
                kept.append(path)
            else:
                _remove(path, erased)
    for path in _files(places.run):
        if os.path.basename(path) in HELD_IN_RUN or not os.path.isfile(path) \
                or os.path.islink(path):
            kept.append(path)
        else:
            _remove(path, erased)
    # A file ROM has that is missing here (removed by hand): back as well.
    rom_state = os.path.join(places.rom, STATE.lstrip("/")) if places.rom else None
    for rom in _files(rom_state):
        path = os.path.join(places.state, os.path.relpath(rom, rom_state))
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _restore(rom, path, restored)
            kept.append(path)
    # The household's settings, under the same lock the web UI and the
    # console take to change them.
    store = FileStore(places.config, keep_last_good=False)
    directory = os.path.dirname(places.config) or "."
    base = os.path.basename(places.config)
    os.makedirs(directory, exist_ok=True)
    with store.locked():
        for name in sorted(os.listdir(directory)):
            if name.startswith(base + ".corrupt-") or name == base + ".last-good" \
                    or name.startswith("." + base + ".") and ".tmp-" in name:
                _remove(os.path.join(directory, name), erased)
        shipped = _shipped_config(places)
        try:
            with open(places.config, "rb") as f:
                current = f.read()
        except OSError:
            current = None
        if current != shipped:
            store.write(shipped)
            restored.append(places.config)
    return {"erased": erased, "restored": restored, "kept": kept,
            "guard": _sync_guard(places, guard_nft)}


def _sync_guard(places, nft):
    from vpnspot_router import configstore
    from vpnspot_router.net import guard as gd_mod
    if not places.guard_file:
        return None
    provisioning = [os.path.join(places.state, "provisioning")]
    if places.rom:
        provisioning.append(os.path.join(places.rom, STATE.lstrip("/"), "provisioning"))
    guard = gd_mod.BootGuard(configstore.Paths(places.config, tuple(provisioning)),
                             state_dir=places.state, guard_file=places.guard_file, nft=nft)
    if not guard.installed():
        return None
    return gd_mod.describe(guard.sync())
