"""`vpnspot enroll` and `vpnspot servers`: thin commands over client.py.

Owns: the device file STATE/device.json (API URL, CA file, device id and
device token), written atomically through store.FileStore (temp file,
fsync, rename) with mode 0600 in a 0700 directory, because the token lets
anyone act as this router towards the VPN Spot service.

Keep in sync with client.py (the errors printed are its household
messages) and the README section "The VPN Spot service API".

The activation code is used once and never written anywhere; `--code -`
reads it from stdin so it does not show in the process list.
"""

import errno
import json
import os
import sys

DEFAULT_STATE_DIR = "/etc/vpnspot"
DEVICE_FILE = "device.json"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEVICE_KEYS = ("api_url", "ca_file", "resolve", "device_id", "device_token")
# The token alphabet of openapi.yaml's Enrollment schema.
_TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def _error(message, code):
    print("error: %s" % message, file=sys.stderr)
    return code


def _device_store(state_dir):
    from vpnspot_router.store import FileStore
    return FileStore(os.path.join(state_dir, DEVICE_FILE), keep_last_good=True)


def _validate_device(data):
    try:
        record = json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply to be an enrollment record") from None
    if not isinstance(record, dict) or set(record) != set(DEVICE_KEYS):
        raise ValueError("fields must be %s" % ", ".join(DEVICE_KEYS))
    # The values go into the client as they are: a damaged or hand-edited
    # file must be refused here, not crash the first call that uses it.
    for key in ("api_url", "device_id", "device_token"):
        if type(record[key]) is not str:
            raise ValueError("%s must be text" % key)
    if record["ca_file"] is not None and type(record["ca_file"]) is not str:
        raise ValueError("ca_file must be text or null")
    resolve = record["resolve"]
    if not isinstance(resolve, dict) or not all(type(k) is str and type(v) is str
                                                for k, v in resolve.items()):
        raise ValueError("resolve must map host names to addresses")
    if not record["device_token"] or record["device_token"].strip(_TOKEN_CHARS):
        raise ValueError("device_token holds characters a token never has")
    return record


def load_device(state_dir):
    """The saved enrollment, or None if this router has not enrolled."""
    result = _device_store(state_dir).read(_validate_device)
    for problem in result.problems:
        print("warning: %s" % problem, file=sys.stderr)
    # The store hands back the bytes it validated.
    return _validate_device(result.data) if result.data else None


def save_device(state_dir, record):
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    data = json.dumps(record, sort_keys=True, indent=1).encode() + b"\n"
    old = os.umask(0o077)
    try:
        _device_store(state_dir).write(data)
    finally:
        os.umask(old)


def check_state_writable(state_dir):
    """Raise OSError unless device.json and its last-good copy can be saved
    in state_dir. Enrolling spends the activation code, so this runs before
    the code is sent: a read-only or full flash must not cost the household
    its code."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    probe = os.path.join(state_dir, ".%s.probe-%d" % (DEVICE_FILE, os.getpid()))
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # Two pages: the file and its last-good copy take one each on tmpfs/UBIFS.
        if os.write(fd, bytes(8192)) != 8192:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        os.fsync(fd)
    finally:
        os.close(fd)
        os.unlink(probe)


def _parse_resolve(items):
    resolve = {}
    for item in items or ():
        host, sep, addr = item.partition("=")
        if not sep or not host or not addr:
            raise ValueError("--resolve must be HOST=ADDRESS, e.g. api.vpnspot.test=127.0.0.1")
        resolve[host] = addr
    return resolve


def _client(api_url, ca_file, resolve, device_token=None):
    from vpnspot_router.provider.client import ProviderClient
    return ProviderClient(api_url, device_token=device_token, ca_file=ca_file, resolve=resolve)


def cmd_enroll(args):
    from vpnspot_router.provider.client import ProviderError

    saved = load_device(args.state) or {}
    api_url = args.api or saved.get("api_url")
    if not api_url:
        return _error("no service address: give --api https://HOST (from the setup letter or "
                      "your internet provider)", EXIT_USAGE)
    ca_file = args.ca or saved.get("ca_file")
    if ca_file and not os.path.isfile(ca_file):
        return _error("%s: CA file not found" % ca_file, EXIT_USAGE)
    try:
        resolve = _parse_resolve(args.resolve) if args.resolve else saved.get("resolve") or {}
    except ValueError as e:
        return _error(str(e), EXIT_USAGE)
    code = args.code
    if code == "-":
        code = sys.stdin.readline().strip()
    try:
        client = _client(api_url, os.path.abspath(ca_file) if ca_file else None, resolve)
    except ValueError as e:
        return _error(str(e), EXIT_USAGE)
    try:
        check_state_writable(args.state)
    except OSError as e:
        return _error("cannot save the enrollment in %s: %s. Nothing was sent and the activation "
                      "code is still valid; make room there (or make it writable) and enroll again"
                      % (args.state, e.strerror or e), EXIT_FAILURE)
    try:
        enrollment = client.enroll(args.email, code)
    except ValueError:
        # Raised before anything is sent: the email or code is malformed.
        # The code itself is not echoed.
        return _error("the email address or activation code is not in the expected form "
                      "(codes look like VPNS-7Q4K-M2XD)", EXIT_USAGE)
    except ProviderError as e:
        return _error(e.message, EXIT_FAILURE)
    try:
        save_device(args.state, {"api_url": api_url,
                                 "ca_file": os.path.abspath(ca_file) if ca_file else None,
                                 "resolve": resolve, "device_id": enrollment.device_id,
                                 "device_token": enrollment.device_token})
    except OSError as e:
        # The space went between the check and the save: the code is spent.
        return _error("enrolled as %s, but %s; ask VPN Spot support for a new activation code"
                      % (enrollment.device_id, e.strerror or e), EXIT_FAILURE)
    print("enrolled: this router is %s; its device token is saved in %s"
          % (enrollment.device_id, os.path.join(args.state, DEVICE_FILE)))
    return EXIT_OK


def cmd_servers(args):
    from vpnspot_router.provider.client import ProviderError

    saved = load_device(args.state)
    if not saved:
        return _error("this router is not enrolled yet: run `vpnspot enroll --email EMAIL "
                      "--code CODE --api URL` first", EXIT_FAILURE)
    try:
        client = _client(saved["api_url"], saved["ca_file"], saved["resolve"],
                         saved["device_token"])
        servers = client.servers()
    except ProviderError as e:
        return _error(e.message, EXIT_FAILURE)
    if args.json:
        print(json.dumps([s._asdict() for s in servers], indent=2))
        return EXIT_OK
    print("%-12s %-14s %-3s %-16s %5s %-5s %s" % ("ID", "REGION", "CC", "CITY", "LOAD", "IPV6",
                                                 "ENDPOINT"))
    for s in servers:
        print("%-12s %-14s %-3s %-16s %4d%% %-5s %s" % (s.id, s.region, s.country, s.city[:16],
                                                       s.load, "yes" if s.ipv6 else "no",
                                                       s.endpoint))
    # The agent uses only the entries core/serverlist.py accepts (it also
    # refuses the router's own networks, which this command does not read).
    from vpnspot_router.core import serverlist
    for problem in serverlist.usable([s._asdict() for s in servers])[1]:
        print("refused: %s (the agent will not use it)" % problem)
    return EXIT_OK


def register(sub):
    """Add `enroll` and `servers` to the `vpnspot` command's subparsers."""
    enroll = sub.add_parser("enroll", help="enroll this router with a VPN Spot account")
    enroll.add_argument("--email", required=True, help="the account's email address")
    enroll.add_argument("--code", required=True,
                        help="activation code, or - to read it from stdin")
    enroll.add_argument("--api", help="service address https://HOST[:PORT] "
                        "(default: the one saved at the last enrollment)")
    enroll.add_argument("--ca", help="trust only this CA bundle for the service "
                        "(an internet provider's own CA); default: the system's")
    enroll.add_argument("--resolve", action="append", metavar="HOST=ADDRESS",
                        help="reach HOST at ADDRESS (lab and networks without DNS for it); "
                        "the certificate is still checked for HOST")
    enroll.add_argument("--state", default=DEFAULT_STATE_DIR,
                        help="directory for device.json (default %(default)s)")
    enroll.set_defaults(func=cmd_enroll)

    servers = sub.add_parser("servers", help="list the VPN Spot servers this router may use")
    servers.add_argument("--json", action="store_true", help="machine-readable output")
    servers.add_argument("--state", default=DEFAULT_STATE_DIR,
                         help="directory holding device.json (default %(default)s)")
    servers.set_defaults(func=cmd_servers)
