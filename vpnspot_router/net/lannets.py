"""The router's LAN devices, read from its real configuration.

Owns: reading /etc/config/firewall and /etc/config/network and asking
netifd (`ubus call network.interface dump`, when ubus exists) for the
decision in core/lannets.py, and the fallbacks around it. `RouterConfig`
does the IO; `FakeRouterConfig` beside it holds the same three answers in
memory for tests.

Who asks: the agent at start and on its control request "lan_reload" (sent
by `vpnspot guard sync`, which the init script's network/firewall config
triggers and the iface hotplug hook run), and the guard sync itself, which
puts the same devices in the boot guard's set `lan_devices` (net/guard.py).

Fallbacks, so a mistake never unprotects a network that was protected:
  - a wrong `list lan_networks` (unknown name, a WAN, the tunnel): the error
    is logged and the default (every network whose zone forwards to the
    WAN) is used instead;
  - nothing derivable (no firewall file, e.g. not OpenWrt): OpenWrt's
    br-lan, as the boot guard ships;
  - on a reload, an error keeps the devices already in force (`previous`).
"""

import json
import logging
import os
import shutil
import subprocess

from vpnspot_router.core import lannets as core

log = logging.getLogger("vpnspot.lan")

UBUS_TIMEOUT = 5


class RouterConfig:
    """The real source: UCI files in config_dir and netifd through ubus."""

    def __init__(self, config_dir="/etc/config", ubus="ubus"):
        self.config_dir = config_dir
        self.ubus = ubus

    def path(self, name):
        return os.path.join(self.config_dir, name)

    def text(self, name):
        try:
            with open(self.path(name), encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return None
        except OSError as e:
            log.warning("cannot read %s: %s; deciding without it", self.path(name), e.strerror)
            return None

    def dump(self):
        """netifd's interfaces, decoded; None without ubus or an answer."""
        exe = shutil.which(self.ubus) if self.ubus else None
        if not exe:
            return None
        try:
            proc = subprocess.run([exe, "call", "network.interface", "dump"], capture_output=True,
                                  text=True, timeout=UBUS_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as e:
            log.warning("ubus call network.interface dump failed (%s); using the configuration", e)
            return None
        if proc.returncode != 0:
            log.warning("ubus call network.interface dump: %s; using the configuration",
                        proc.stderr.strip() or "exit %d" % proc.returncode)
            return None
        try:
            return json.loads(proc.stdout)
        except ValueError:
            log.warning("ubus call network.interface dump gave no JSON; using the configuration")
            return None


class FakeRouterConfig:
    """In memory: files {name: text} and the dump (decoded) or None."""

    def __init__(self, files=None, dump=None, config_dir="/etc/config"):
        self.files = dict(files or {})
        self.dump_value = dump
        self.config_dir = config_dir

    def path(self, name):
        return os.path.join(self.config_dir, name)

    def text(self, name):
        return self.files.get(name)

    def dump(self):
        return self.dump_value


def derive(source, chosen=()):
    """core.Lan for the router's configuration, or core.LanError."""
    return core.derive(source.text("firewall"), source.text("network"), source.dump(), chosen,
                       firewall_name=source.path("firewall"), network_name=source.path("network"),
                       setting_name=source.path("vpnspot"))


def devices(source, chosen=(), previous=None):
    """The LAN devices to protect (a non-empty sorted list), never raising:
    errors are logged and the fallbacks in the module docstring apply."""
    try:
        lan = derive(source, chosen)
    except (core.LanError, ValueError) as e:
        if previous:
            log.error("LAN networks: %s; still covering %s", e, ", ".join(previous))
            return list(previous)
        if chosen:
            log.error("LAN networks: %s; covering every network whose zone forwards to the "
                      "WAN instead", e)
            return devices(source, (), previous)
        log.warning("LAN networks: %s; covering %s", e, ", ".join(core.DEFAULT_DEVICES))
        return list(core.DEFAULT_DEVICES)
    for note in lan.notes:
        log.warning("LAN networks: %s", note)
    log.info("LAN networks (%s): %s", "as listed in lan_networks" if lan.how == "list"
             else "every network forwarding to the WAN", lan.describe())
    return lan.devices
