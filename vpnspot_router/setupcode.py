"""The setup code: the proof of ownership the web UI's first-run step asks
for together with the new admin password.

Until a password is set, any device on the LAN can open the router's pages;
whoever sets the password controls where the home's traffic goes. The setup
code tells the router's owner from a LAN device: it is known only to who
holds the router (its label, its shell, its serial console). Sources, the
first found wins:

  1. the ISP's provisioning file: `option setup_code` in its `provider`
     section (an ISP prints the same code on the router's label);
  2. STATE/web-setup-code: LENGTH random characters from ALPHABET (no 0/O,
     1/I/L), made once, 0600, create-if-absent (link(2) of a complete
     temporary file: never a half-written or replaced code), shown by
     `vpnspot setup-code` on the router's shell.

Comparison ignores case, spaces and dashes (people type "abcde fghjk" for
"ABCDE-FGHJK") and runs in constant time. A factory reset removes
STATE/web-setup-code; the next first run makes a new one. Nothing here
logs or prints a code; callers decide who may see it.
"""

import errno
import hmac
import os
import secrets

from vpnspot_router.store import create_exclusive

FILE_NAME = "web-setup-code"
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
LENGTH = 10
GROUP = 5
SEPARATORS = " -\t"


class SetupCodeError(OSError):
    """The code file exists but holds no usable code (edited by hand?)."""


def normalize(text):
    return "".join(c for c in (text or "").upper() if c not in SEPARATORS)


def shown(code):
    """ABCDEFGHJK -> ABCDE-FGHJK (a generated code); other codes as written."""
    code = code.strip()
    if len(code) == LENGTH and all(c in ALPHABET for c in code):
        return "-".join(code[i:i + GROUP] for i in range(0, LENGTH, GROUP))
    return code


def matches(expected, given):
    """Constant-time comparison of what was typed with the router's code."""
    want = normalize(expected).encode("utf-8")
    got = normalize(given).encode("utf-8")
    return bool(want) and hmac.compare_digest(want, got)


def generate():
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def path_in(state_dir):
    return os.path.join(state_dir, FILE_NAME)


def _read(path):
    try:
        with open(path, "rb") as f:
            data = f.read(256)
    except FileNotFoundError:
        return None
    code = data.decode("utf-8", "replace").strip()
    if len(code) != LENGTH or any(c not in ALPHABET for c in code):
        raise SetupCodeError(errno.EINVAL, "%s does not hold a setup code (%d characters from "
                             "%s); remove it and a new code is made" % (path, LENGTH, ALPHABET))
    return code


def ensure(state_dir):
    """The generated code in STATE/web-setup-code, made now if absent."""
    path = path_in(state_dir)
    code = _read(path)
    if code is not None:
        return code
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    try:
        create_exclusive(path, (generate() + "\n").encode())
    except FileExistsError:
        pass                            # another process made one first: use it
    return _read(path)


def from_provisioning(provisioning_paths):
    """The ISP's setup code, or None (no file, no code, or a file that does
    not parse: the agent reports that one by name)."""
    if not provisioning_paths:
        return None, None
    from vpnspot_router import configstore
    from vpnspot_router.core.config import ConfigError
    try:
        prov = configstore.load_provisioning(configstore.Paths(None, tuple(provisioning_paths)))
    except (ConfigError, OSError):
        return None, None
    if prov is None or not getattr(prov, "setup_code", None):
        return None, None
    return prov.setup_code, prov.filename


def current(state_dir, provisioning_paths=()):
    """(code, where) - where: the file the code comes from."""
    code, where = from_provisioning(provisioning_paths)
    if code:
        return code, where
    return ensure(state_dir), path_in(state_dir)


def provisioning_paths_for(state_dir):
    """The provisioning files `vpnspot agent` and `vpnspot web` read for a
    state directory (the router's own, or a test's / the lab's)."""
    from vpnspot_router import configstore
    if os.path.abspath(state_dir) == "/etc/vpnspot":
        return configstore.PROVISIONING_PATHS
    return (os.path.join(state_dir, "provisioning"),)


# -- `vpnspot setup-code` ------------------------------------------------------------

def cmd_setup_code(args):
    import sys
    state = args.state
    try:
        code, where = current(state, provisioning_paths_for(state))
    except OSError as e:
        print("error: %s" % (e.strerror or e), file=sys.stderr)
        return 1
    print(shown(code))
    print("(from %s) Type it with the new password on the web UI's first page. It is needed only "
          "until a password is set." % where, file=sys.stderr)
    return 0


def register(sub):
    p = sub.add_parser("setup-code", help="print the web UI's setup code (proof of ownership "
                       "for choosing the first admin password)")
    p.add_argument("--state", default="/etc/vpnspot", metavar="DIR",
                   help="the state directory, as for `vpnspot web` (default /etc/vpnspot)")
    p.set_defaults(func=cmd_setup_code)
