"""Settings from the files on the router: /etc/config/vpnspot and the ISP's
provisioning file, read and changed through store.py.

Owns which files are read and in what order; the meaning of their contents
is core/config.py's, the on-flash safety store.py's. What the web UI, the
console and the supervisor call:

  load_settings(paths)           -> (Settings, problems)
  change_setting(paths, key, v)  -> (Settings, changed); ConfigError /
                                    LockedError leave the file untouched

The provisioning file is the first of PROVISIONING_PATHS that exists: the
writable /etc copy an ISP may update, then the one in the read-only /rom
image, so a factory reset still knows its provider. A provisioning file
that does not parse is an error (the ISP's locks must not silently vanish);
a household file that does not parse is moved aside by the store and its
last good copy used, and the problem is reported.

Keep README "Configuration (/etc/config/vpnspot)" in sync.
"""

import os

from .core import config, uci
from .store import FileStore

CONFIG_PATH = "/etc/config/vpnspot"
PROVISIONING_PATHS = ("/etc/vpnspot/provisioning", "/rom/etc/vpnspot/provisioning")


class Paths:
    """Where the files are; tests point these into a temporary directory."""

    def __init__(self, config_path=CONFIG_PATH, provisioning_paths=PROVISIONING_PATHS):
        self.config_path = config_path
        self.provisioning_paths = provisioning_paths


def load_provisioning(paths):
    for path in paths.provisioning_paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeError:
            raise config.ConfigError(path, None, None, "is not UTF-8 text")
        return config.parse_provisioning(text, path)
    return None


def _validator(paths, provisioning):
    def validate(data):
        config.load(data.decode("utf-8"), provisioning, paths.config_path)
    return validate


def load_settings(paths=None):
    paths = paths or Paths()
    provisioning = load_provisioning(paths)
    result = FileStore(paths.config_path).read(_validator(paths, provisioning))
    text = result.data.decode("utf-8") if result.data is not None else None
    settings = config.load(text, provisioning, paths.config_path)
    return settings, result.problems + settings.notices


def change_setting(paths, key, value):
    """One household change, under the store's lock: read, check, edit the
    one option, validate the whole result, write atomically."""
    paths = paths or Paths()
    provisioning = load_provisioning(paths)
    store = FileStore(paths.config_path)
    validate = _validator(paths, provisioning)
    with store.locked():
        result = store.read(validate)
        text = result.data.decode("utf-8") if result.data is not None else ""
        settings = config.load(text or None, provisioning, paths.config_path)
        doc = uci.parse(text, paths.config_path)
        changed = config.change(doc, settings, key, value)
        if not changed:
            return settings, False
        new_text = doc.serialize()
        # Cross-field rules (dns_mode custom needs servers) are checked on
        # the whole file before it is written.
        new_settings = config.load(new_text, provisioning, paths.config_path)
        directory = os.path.dirname(os.path.abspath(paths.config_path))
        if not os.path.isdir(directory):
            os.makedirs(directory)
        store.write(new_text.encode("utf-8"))
    return new_settings, True
