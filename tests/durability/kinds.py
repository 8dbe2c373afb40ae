"""Every kind of file the agent persists, as the durability tests drive it.

One FileKind per file: how to write version n of it through the same code
the agent uses (store.py's FileStore, or the module that wraps it), how to
read a version number back out of the bytes (raising ValueError when they
are not a valid file of that kind, exactly as the store's validator does),
and where it lives under a test directory.

Kinds: the UCI settings file (written by configstore.change_setting under
its lock), the WireGuard private key, the enrollment record device.json
(provider/commands.save_device), the accounting checkpoint and the
telemetry report queue (their to_bytes() through a FileStore).
"""

import base64
import hashlib
import os

from vpnspot_router import configstore
from vpnspot_router.core import accounting, config, telemetry, wgconf
from vpnspot_router.core.cryptoapi import x25519_clamp
from vpnspot_router.provider import commands
from vpnspot_router.store import FileStore

T0 = 1700000000
PORT_BASE = 1000            # version n of the settings file has web_port PORT_BASE + n


class FileKind:
    name = None

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)

    def path(self):
        raise NotImplementedError

    def write(self, n):
        """Write version n (n >= 1) the way the agent does."""
        raise NotImplementedError

    def version(self, data):
        """The version number held by `data`; ValueError if not a valid file."""
        raise NotImplementedError

    def store(self):
        return FileStore(self.path())


class SettingsFile(FileKind):
    name = "uci-settings"

    def paths(self):
        return configstore.Paths(os.path.join(self.root, "config", "vpnspot"), ())

    def path(self):
        return self.paths().config_path

    def write(self, n):
        # /etc/config always exists on a router (change_setting takes its
        # lock in that directory before it would create it).
        os.makedirs(os.path.dirname(self.path()), exist_ok=True)
        _, changed = configstore.change_setting(self.paths(), "web_port", str(PORT_BASE + n))
        assert changed

    def version(self, data):
        settings = config.load(data.decode("utf-8"), None, self.path())
        return settings.web_port - PORT_BASE


def _key(n):
    return x25519_clamp(hashlib.sha256(b"durability key %d" % n).digest())


class KeyFile(FileKind):
    name = "private-key"
    _versions = {}

    def path(self):
        return os.path.join(self.root, "wg.key")

    def write(self, n):
        self.store().write(base64.b64encode(_key(n)) + b"\n")

    def version(self, data):
        key = wgconf.decode_key(data.decode("utf-8").strip())
        if not self._versions:
            for i in range(0, 20000):
                self._versions[_key(i)] = i
        if key not in self._versions:
            raise ValueError("a valid key, but not one this test wrote")
        return self._versions[key]


class EnrollmentFile(FileKind):
    name = "enrollment"

    def path(self):
        return os.path.join(self.root, "state", commands.DEVICE_FILE)

    def write(self, n):
        commands.save_device(os.path.dirname(self.path()), {
            "api_url": "https://api.vpnspot.test", "ca_file": None, "resolve": {},
            "device_id": "dev_%d" % n, "device_token": "t" * 40 + "%06d" % n})

    def version(self, data):
        record = commands._validate_device(data)
        return int(record["device_id"][4:])

    def store(self):
        return commands._device_store(os.path.dirname(self.path()))


class CheckpointFile(FileKind):
    name = "accounting-checkpoint"

    def path(self):
        return os.path.join(self.root, "accounting.json")

    def write(self, n):
        a = accounting.Accounting(checkpoint_minutes=1)
        a.observe(0, 0, T0, source="wg0")
        (cp,) = [x for x in a.observe(n * 1000, n * 2000, T0 + 60, source="wg0")
                 if isinstance(x, accounting.Checkpoint)]
        self.store().write(cp.data)

    def version(self, data):
        a = accounting.Accounting()
        a.restore(data)
        if a.total_rx != a.total_tx // 2 or a.total_rx % 1000:
            raise ValueError("totals that this test never wrote")
        return a.total_rx // 1000


def _random(n):
    return (hashlib.sha256(b"r%d" % n).digest() * 2)[:n]


IDENTITY = telemetry.Identity("GL.iNet GL-MT3000", "OpenWrt", "23.05.3", "0.1.0")


class QueueFile(FileKind):
    name = "telemetry-queue"

    def path(self):
        return os.path.join(self.root, "reports.json")

    def write(self, n):
        q = telemetry.ReportQueue(_random, capacity=4)
        q.next_seq = max(0, n - 2)
        while q.next_seq < n:           # the last two reports wait in the queue
            i = q.next_seq
            q.add(IDENTITY, T0 + 3600 * i, T0 + 3600 * (i + 1), 10 * n, 20 * n, T0)
        self.store().write(q.to_bytes())

    def version(self, data):
        q = telemetry.ReportQueue(_random, capacity=4)
        q.restore(data)
        return q.next_seq


KINDS = (SettingsFile, KeyFile, EnrollmentFile, CheckpointFile, QueueFile)

