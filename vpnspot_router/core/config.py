"""The schema of /etc/config/vpnspot and the ISP provisioning file -> Settings.

Owns: every option the agent reads, its default and its validation; how the
provisioning file pre-seeds and locks options; the household's changes
(refused for locked fields); the diff between two Settings. UCI syntax is
uci.py's business; files on disk are the store adapter's (store.py).

Settings = defaults <- provisioning <- household config, except that a
field the provisioning file locks always takes the provisioning value.

Keep FIELDS below, the README table "Configuration (/etc/config/vpnspot)"
and firmware_pkg's default /etc/config/vpnspot in sync.

  key                    section.option               default            accepted
  enabled                main.enabled                 1                  0/1 (also yes/no, on/off, true/false)
  account_email          main.account_email           ''                 an email address, or '' before enrollment
  region                 main.region                  fastest            'fastest' or a region id (de-fra, us-east-1)
  server                 main.server                  ''                 '' (choose automatically) or a server id
  kill_switch            main.kill_switch             1                  0/1: 1 blocks LAN traffic outside the tunnel
  dns_mode               main.dns_mode                tunnel             tunnel (VPN Spot DNS) / isp / custom
  dns_servers            main.dns_servers (list)      (none)             IPv4/IPv6 addresses; only with dns_mode custom
  ipv6_mode              main.ipv6_mode               tunnel             tunnel (through the tunnel, else blocked) / block
  mtu                    main.mtu                     auto               'auto' or 1280..1500
  report_period_minutes  main.report_period_minutes   1440               60..1440, minutes per bandwidth report
                                                                         (daily: billing needs totals, not a timeline)
  checkpoint_minutes     main.checkpoint_minutes      15                 1..1440, most often the totals are written to flash
  api_url                main.api_url                 https://api.vpnspot.net/v1   an https:// URL
  ca_file                main.ca_file                 ''                 '' (system CAs) or an absolute path to a PEM bundle
  partner_id             main.partner_id              ''                 '' or the ISP's partner id (letters, digits, - _ .)
  web_port               main.web_port                8443               1..65535
  web_on_demand          main.web_on_demand           1                  0/1: the agent starts the web UI when a browser connects
  debug_ttl_default      main.debug_ttl_default       30                 1..1440, minutes a debug session lasts unless told
  server_source          main.server_source           vpnspot            vpnspot (the provider's servers) / own (STATE/wg-household.conf)
  lan_networks           main.lan_networks (list)     (none)             network names (lan, guest); none: every network whose
                                                                         firewall zone forwards to the WAN (core/lannets.py)
  console_enabled        console.enabled              0                  0/1: serial console for technicians
                                                                         (off when the file or section is missing,
                                                                         as the package ships it)
  console_tty            console.tty                  /dev/ttyS0         a /dev/ path
  console_baud           console.baud                 115200             9600 19200 38400 57600 115200 230400 460800 921600

Provisioning file (same UCI syntax), e.g. /etc/vpnspot/provisioning:

  config provider 'provider'
      option name 'Example ISP'          shown in "locked by your provider Example ISP"
      option colour_primary '#003366'    branding for the web UI (#rrggbb)
      option colour_accent '#ff6600'
      list lock 'kill_switch'            keys from the table above
  config vpnspot 'main'                  and `config console 'console'`:
      option api_url 'https://...'       pre-seeded values, validated as above

Exception tree:  ValueError -> ConfigError (wgconf.py) -> LockedError.
"""

from . import offload as _offload
from .uci import parse as uci_parse, UciError
from .wgconf import ConfigError, _address
from . import serverlist

MAIN = "main"
CONSOLE = "console"
_SECTION_TYPES = {MAIN: "vpnspot", CONSOLE: "console"}

_DIGITS = "0123456789"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ID_CHARS = _LOWER + _DIGITS + "-_."
_HOST_CHARS = _LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + _DIGITS + "-."
_PATH_CHARS = _LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + _DIGITS + "-_./+"
_EMAIL_LOCAL = _LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + _DIGITS + ".!#$%&*+-/=?^_`{|}~"
_URL_PATH = _LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + _DIGITS + "-._~/%"
_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
_TRUE = ("1", "yes", "on", "true", "enabled")
_FALSE = ("0", "no", "off", "false", "disabled")


class LockedError(ConfigError):
    """A household change to a field the provider locked."""


class PairError(ConfigError):
    """Two fields that only make sense together disagree (dns_mode custom
    and dns_servers): each is fine alone, so the console can stage one,
    then the other, and refuses only a commit that leaves them apart."""


# -- value checkers: text -> value, or ValueError saying what is accepted ----

def _bool(text):
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("%r is not a switch; use 1 (on) or 0 (off)" % text[:40])


def _int_in(low, high):
    def check(text):
        if not text or len(text) > 10:
            raise ValueError("must be a whole number from %d to %d" % (low, high))
        for ch in text:
            if ch not in _DIGITS:
                raise ValueError("%r is not a whole number from %d to %d" % (text[:40], low, high))
        value = int(text)
        if value < low or value > high:
            raise ValueError("%d is out of range; use %d to %d" % (value, low, high))
        return value
    return check


def _choice(options):
    def check(text):
        if text in options:
            return text
        raise ValueError("%r is not one of: %s" % (text[:40], ", ".join(options)))
    return check


def _ident(what, allow_empty):
    def check(text):
        if not text:
            if allow_empty:
                return ""
            raise ValueError("needs a %s" % what)
        if len(text) > 64 or text[0] not in _LOWER + _DIGITS:
            raise ValueError("%r is not a %s (lower-case letters, digits, '-', '_', '.'; at most 64)"
                             % (text[:40], what))
        for ch in text:
            if ch not in _ID_CHARS:
                raise ValueError("%r is not a %s (lower-case letters, digits, '-', '_', '.'; at most 64)"
                                 % (text[:40], what))
        return text
    return check


def _region(text):
    if text == "fastest":
        return text
    try:
        return _ident("region id", False)(text)
    except ValueError:
        raise ValueError("%r is neither 'fastest' nor a region id such as de-fra" % text[:40])


def _email(text):
    if text == "":
        return ""
    if len(text) > 254 or text.count("@") != 1:
        raise ValueError("%r is not an email address" % text[:40])
    local, domain = text.split("@")
    if not local or len(local) > 64 or "." not in domain or domain[0] in ".-" or domain[-1] in ".-":
        raise ValueError("%r is not an email address" % text[:40])
    for ch in local:
        if ch not in _EMAIL_LOCAL:
            raise ValueError("the email address may not contain %r" % ch)
    for ch in domain:
        if ch not in _HOST_CHARS:
            raise ValueError("the email address's domain may not contain %r" % ch)
    return text


def _url(text):
    if not text.startswith("https://"):
        raise ValueError("must start with https:// (the provider API is reached over TLS only)")
    rest = text[8:]
    cut = rest.find("/")
    host = rest if cut < 0 else rest[:cut]
    path = "" if cut < 0 else rest[cut:]
    if len(text) > 256:
        raise ValueError("longer than 256 characters")
    port = None
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            raise ValueError("an IPv6 host goes in brackets: https://[address]:port/")
        try:
            _address(host[1:close])
        except ValueError as e:
            raise ValueError(str(e))
        tail = host[close + 1:]
        if tail:
            if not tail.startswith(":"):
                raise ValueError("unexpected text after the bracketed address")
            port = tail[1:]
    else:
        if ":" in host:
            host, port = host.split(":", 1)
        if not host or host[0] in ".-" or host[-1] == "-":
            raise ValueError("needs a host name, e.g. https://api.example.net/v1")
        for ch in host:
            if ch not in _HOST_CHARS:
                raise ValueError("the host name may not contain %r" % ch)
    if port is not None:
        _int_in(1, 65535)(port)
    for ch in path:
        if ch not in _URL_PATH:
            raise ValueError("the path may not contain %r (no query strings or fragments)" % ch)
    return text


def _path(prefix, allow_empty):
    def check(text):
        if not text and allow_empty:
            return ""
        if not text.startswith(prefix) or len(text) > 200:
            raise ValueError("must be an absolute path starting with %s" % prefix)
        for ch in text:
            if ch not in _PATH_CHARS:
                raise ValueError("the path may not contain %r" % ch)
        for part in text.split("/"):
            if part == "..":
                raise ValueError("the path may not contain '..'")
        return text
    return check


def _mtu(text):
    if text == "auto":
        return text
    try:
        return _int_in(1280, 1500)(text)
    except ValueError:
        raise ValueError("%r: use 'auto' or a number from 1280 to 1500" % text[:40])


def _baud(text):
    value = _int_in(1, 10000000)(text)
    if value not in _BAUDS:
        raise ValueError("%d is not a serial speed; use one of %s"
                         % (value, ", ".join([str(b) for b in _BAUDS])))
    return value


# What each dns_mode does, in the words the console and the README use
# (the web UI's settings page says the same).
DNS_MODE_TEXT = {
    "tunnel": "names are resolved by VPN Spot's resolver, through the tunnel",
    "custom": "names are resolved by your own dns_servers, through the tunnel",
    "isp": "names are resolved by your internet provider, outside the tunnel: it sees every name",
}


def _ip(text):
    # A DNS server (dns_servers): a unicast address, by the same rules as a
    # VPN Spot server's resolvers (core/serverlist.py).
    try:
        _address(text)
    except ValueError:
        raise ValueError("%r is not an IPv4 or IPv6 address" % text[:40])
    why = serverlist.dns_problem(text, ())
    if why is not None:
        raise ValueError("%s, not a DNS server's address" % why)
    return text


def _network_name(text):
    # A UCI interface section name of /etc/config/network (netifd: letters,
    # digits, '_'), e.g. lan, guest, iot.
    if not text or len(text) > 32:
        raise ValueError("needs a network name of 1 to 32 characters, e.g. lan or guest")
    for ch in text:
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9" or ch == "_"):
            raise ValueError("%r is not a network name (letters, digits, '_'; as in "
                             "/etc/config/network, e.g. lan or guest)" % text[:40])
    return text


def _colour(text):
    if len(text) != 7 or text[0] != "#":
        raise ValueError("%r is not a colour; write #rrggbb" % text[:40])
    for ch in text[1:]:
        if ch not in "0123456789abcdefABCDEF":
            raise ValueError("%r is not a colour; write #rrggbb" % text[:40])
    return text.lower()


def _display_name(text):
    if not text or len(text) > 64:
        raise ValueError("needs 1 to 64 characters")
    for ch in text:
        if ord(ch) < 32 or ch in "<>&\"'\\":
            raise ValueError("may not contain %r" % ch)
    return text


class Field:
    """One setting: where it lives, its default (already a value), how text
    becomes a value, and how a value is written back as text."""

    def __init__(self, key, section, option, default, check, is_list=False):
        self.key = key
        self.section = section
        self.option = option
        self.default = default
        self.check = check
        self.is_list = is_list


FIELDS = (
    Field("enabled", MAIN, "enabled", True, _bool),
    Field("account_email", MAIN, "account_email", "", _email),
    Field("region", MAIN, "region", "fastest", _region),
    Field("server", MAIN, "server", "", _ident("server id", True)),
    Field("kill_switch", MAIN, "kill_switch", True, _bool),
    Field("dns_mode", MAIN, "dns_mode", "tunnel", _choice(("tunnel", "isp", "custom"))),
    Field("dns_servers", MAIN, "dns_servers", (), _ip, is_list=True),
    Field("ipv6_mode", MAIN, "ipv6_mode", "tunnel", _choice(("tunnel", "block"))),
    Field("mtu", MAIN, "mtu", "auto", _mtu),
    Field("report_period_minutes", MAIN, "report_period_minutes", 1440, _int_in(60, 1440)),
    Field("checkpoint_minutes", MAIN, "checkpoint_minutes", 15, _int_in(1, 1440)),
    Field("api_url", MAIN, "api_url", "https://api.vpnspot.net/v1", _url),
    Field("ca_file", MAIN, "ca_file", "", _path("/", True)),
    Field("partner_id", MAIN, "partner_id", "", _ident("partner id", True)),
    Field("web_port", MAIN, "web_port", 8443, _int_in(1, 65535)),
    # 1: the agent holds the web UI's socket and starts `vpnspot web` when a
    # browser connects, which exits when idle (webholder.py); 0: an
    # always-on web process (procd instance "web").
    Field("web_on_demand", MAIN, "web_on_demand", True, _bool),
    Field("debug_ttl_default", MAIN, "debug_ttl_default", 30, _int_in(1, 1440)),
    # Which data plane and crypto provider carry the tunnel: core/offload.py's
    # override names; "auto" lets the measured decision choose.
    Field("crypto", MAIN, "crypto", "auto", _choice(_offload.OVERRIDES)),
    # Where the tunnel goes: "vpnspot" lets the supervisor choose among the
    # provider's servers; "own" uses the household's imported WireGuard
    # file (STATE/wg-household.conf) and calls the provider for nothing.
    Field("server_source", MAIN, "server_source", "vpnspot", _choice(("vpnspot", "own"))),
    # Which of the router's networks are "LAN" (kill switch, tunnel routing,
    # boot guard): none means every network whose firewall zone forwards to
    # the WAN; core/lannets.py checks the names against /etc/config/network.
    Field("lan_networks", MAIN, "lan_networks", (), _network_name, is_list=True),
    Field("console_enabled", CONSOLE, "enabled", False, _bool),
    Field("console_tty", CONSOLE, "tty", "/dev/ttyS0", _path("/dev/", False)),
    Field("console_baud", CONSOLE, "baud", 115200, _baud),
)
FIELD_BY_KEY = {}
_FIELD_BY_PLACE = {}
for _f in FIELDS:
    FIELD_BY_KEY[_f.key] = _f
    _FIELD_BY_PLACE[(_f.section, _f.option)] = _f

# The provisioning file's own section: branding and locks, never household-editable.
def _setup_code(text):
    # The web UI's first-run proof of ownership (setupcode.py), printed on
    # the router's label: letters, digits, spaces and dashes; case, spaces
    # and dashes do not count when it is typed.
    chars = 0
    for ch in text:
        if ch in " -":
            continue
        if not ("a" <= ch <= "z" or "A" <= ch <= "Z" or "0" <= ch <= "9"):
            raise ValueError("may contain only letters, digits, spaces and dashes, not %r" % ch)
        chars += 1
    if not 8 <= chars <= 64:
        raise ValueError("needs 8 to 64 letters or digits (spaces and dashes do not count)")
    return text


PROVIDER_OPTIONS = {"name": _display_name, "colour_primary": _colour, "colour_accent": _colour,
                    "setup_code": _setup_code}
DEFAULT_PROVIDER_NAME = "VPN Spot"


def to_text(field, value):
    """A value as UCI writes it (lists: a list of str)."""
    if field.is_list:
        return [str(v) for v in value]
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


class Settings:
    """The effective configuration: one attribute per FIELDS key, plus where
    each came from (source[key] is 'default', 'provisioning' or 'household'),
    what the provider locked and brands, and notices about household values
    that a lock overrode."""

    def __init__(self):
        self.source = {}
        self.locked = {}            # key -> provider name
        self.provider_name = DEFAULT_PROVIDER_NAME
        self.branding = {}
        self.notices = []
        for f in FIELDS:
            setattr(self, f.key, f.default)
            self.source[f.key] = "default"

    def value(self, key):
        return getattr(self, key)

    def as_dict(self):
        out = {}
        for f in FIELDS:
            out[f.key] = getattr(self, f.key)
        return out

    def __repr__(self):
        # Shown in logs and tracebacks: the account email only masked.
        shown = self.as_dict()
        shown["account_email"] = mask_email(shown["account_email"])
        return "Settings(%r)" % shown


class Provisioning:
    """What an ISP's provisioning file says: values, locks and branding."""

    def __init__(self, filename):
        self.filename = filename
        self.values = {}            # key -> value
        self.lines = {}             # key -> line it was set on
        self.locks = {}             # key -> line of the lock
        self.name = DEFAULT_PROVIDER_NAME
        self.branding = {}
        self.setup_code = None      # the web UI's first-run code from the router's label


def _read_sections(doc, filename, allowed_extra):
    """(values, lines) of every FIELDS option in the document, each checked."""
    values = {}
    lines = {}
    seen_sections = {}
    for s in doc.sections():
        if s.type in allowed_extra:
            continue
        place = None
        for section_name, stype in _SECTION_TYPES.items():
            if s.type == stype:
                place = section_name
        if place is None:
            raise ConfigError(filename, s.lineno, s.type,
                              "unknown section type; this file holds `config vpnspot 'main'` and "
                              "`config console 'console'`")
        if s.name != place:
            raise ConfigError(filename, s.lineno, s.ref,
                              "write this section as `config %s '%s'`" % (s.type, place))
        if place in seen_sections:
            raise ConfigError(filename, s.lineno, place,
                              "a second '%s' section (the first is on line %d); merge them"
                              % (place, seen_sections[place]))
        seen_sections[place] = s.lineno
        for name in s.order:
            opt = s.options[name]
            field = _FIELD_BY_PLACE.get((place, name))
            if field is None:
                raise ConfigError(filename, opt.statements[0].lineno, name,
                                  "unknown option in '%s'; check the spelling (see the README's "
                                  "option table)" % place)
            if field.is_list != opt.is_list:
                raise ConfigError(filename, opt.lineno, name,
                                  "write it as `list %s 'value'`, one line per value" % name
                                  if field.is_list else
                                  "takes one value; write `option %s 'value'`" % name)
            if not field.is_list and len(opt.statements) > 1:
                raise ConfigError(filename, opt.lineno, name,
                                  "set twice (lines %d and %d); keep one"
                                  % (opt.statements[0].lineno, opt.lineno))
            try:
                if field.is_list:
                    value = tuple([field.check(v) for v in opt.value])
                else:
                    value = field.check(opt.value)
            except ValueError as e:
                raise ConfigError(filename, opt.lineno, name, str(e))
            values[field.key] = value
            lines[field.key] = opt.lineno
    return values, lines


def parse_provisioning(text, filename="/etc/vpnspot/provisioning"):
    """The ISP's provisioning file -> Provisioning, or ConfigError."""
    doc = uci_parse(text, filename)
    prov = Provisioning(filename)
    prov.values, prov.lines = _read_sections(doc, filename, ("provider",))
    providers = doc.sections("provider")
    if len(providers) > 1:
        raise ConfigError(filename, providers[1].lineno, "provider", "keep one provider section")
    for s in providers:
        for name in s.order:
            opt = s.options[name]
            if name == "lock":
                if not opt.is_list:
                    raise ConfigError(filename, opt.lineno, name, "write locks as `list lock 'key'`")
                for st in opt.statements:
                    key = st.args[1]
                    if key not in FIELD_BY_KEY:
                        raise ConfigError(filename, st.lineno, "lock",
                                          "%r is not a setting; lock one of: %s"
                                          % (key[:40], ", ".join([f.key for f in FIELDS])))
                    prov.locks[key] = st.lineno
                continue
            check = PROVIDER_OPTIONS.get(name)
            if check is None:
                raise ConfigError(filename, opt.lineno, name,
                                  "unknown provider option; use name, colour_primary, colour_accent, "
                                  "setup_code or list lock")
            if opt.is_list:
                raise ConfigError(filename, opt.lineno, name, "takes one value")
            try:
                value = check(opt.value)
            except ValueError as e:
                raise ConfigError(filename, opt.lineno, name, str(e))
            if name == "name":
                prov.name = value
            elif name == "setup_code":
                prov.setup_code = value
            else:
                prov.branding[name] = value
    for key in prov.locks:
        if key not in prov.values:
            # Locking a field the file does not set locks the default: allowed, but say so
            # by pinning it explicitly, so what is locked is always visible in one place.
            prov.values[key] = FIELD_BY_KEY[key].default
            prov.lines[key] = prov.locks[key]
    return prov


def _cross_checks(settings, filename, lines):
    if settings.dns_servers and settings.dns_mode != "custom":
        raise PairError(filename, lines.get("dns_servers"), "dns_servers",
                        "only used with dns_mode 'custom'; set dns_mode to custom or remove them")
    if settings.dns_mode == "custom" and not settings.dns_servers:
        raise PairError(filename, lines.get("dns_mode"), "dns_mode",
                          "'custom' needs at least one `list dns_servers 'address'`")


def load(household_text, provisioning=None, filename="/etc/config/vpnspot"):
    """Household config text (None: no file yet) and a Provisioning (or None)
    -> Settings. Raises ConfigError naming file, line and field."""
    settings = Settings()
    lines = {}
    if provisioning is not None:
        settings.provider_name = provisioning.name
        settings.branding = dict(provisioning.branding)
        for key, value in provisioning.values.items():
            setattr(settings, key, value)
            settings.source[key] = "provisioning"
        for key in provisioning.locks:
            settings.locked[key] = provisioning.name
    if household_text is not None:
        doc = uci_parse(household_text, filename)
        values, lines = _read_sections(doc, filename, ())
        for key, value in values.items():
            if key in settings.locked:
                if value != getattr(settings, key):
                    settings.notices.append(
                        "%s:%d: %s: your value %r is not used; this setting is locked by your "
                        "provider %s" % (filename, lines[key], key, to_text(FIELD_BY_KEY[key], value),
                                         settings.locked[key]))
                continue
            setattr(settings, key, value)
            settings.source[key] = "household"
    _cross_checks(settings, filename, lines)
    return settings


def change(doc, settings, key, text):
    """A household change: set field `key` to `text` (a list of str for list
    fields) in the UCI Document `doc`, touching only that option's lines.
    Checks the lock and the value first, so a refused change leaves `doc`
    as it was. Returns True if the file changed."""
    field = FIELD_BY_KEY.get(key)
    if field is None:
        raise ConfigError(doc.filename, None, str(key)[:40], "no such setting")
    if key in settings.locked:
        raise LockedError(doc.filename, None, key, "locked by your provider %s" % settings.locked[key])
    try:
        if field.is_list:
            if not isinstance(text, (list, tuple)):
                raise ValueError("takes a list of values")
            for v in text:
                field.check(v)
        else:
            if not isinstance(text, str):
                raise ValueError("takes text")
            field.check(text)
    except ValueError as e:
        raise ConfigError(doc.filename, None, key, str(e))
    section = doc.section(field.section)
    if section is None:
        section = doc.add_section(_SECTION_TYPES[field.section], field.section)
    if field.is_list and not text:
        return doc.delete(field.section, field.option)
    return doc.set(field.section, field.option, list(text) if field.is_list else text)


def parse_timing(environ, name):
    """environ[name] 'timer=seconds,...' -> {timer: float}: the test and lab
    hooks that shorten the agent's timers (VPNSPOT_WG_TIMING,
    VPNSPOT_SUPERVISOR_TIMING, ...; `environ` is the caller's, e.g.
    os.environ). Unset or empty: {}. ValueError names the variable and the
    item; which timers a variable takes is its owner's to check."""
    out = {}
    for item in (environ.get(name) or "").split(","):
        item = item.strip()
        if not item:
            continue
        timer, sep, value = item.partition("=")
        seconds = None
        if sep:
            try:
                seconds = float(value)
            except ValueError:
                pass
        if seconds is None:
            raise ValueError("%s: %r is not name=seconds" % (name, item))
        out[timer.strip()] = seconds
    return out


def mask_email(email):
    """j***@example.net: enough for the household to recognise, nothing more."""
    if "@" not in email:
        return email
    local, domain = email.split("@", 1)
    return (local[:1] + "***@" + domain) if local else "***@" + domain


def diff(old, new):
    """[(key, old_text, new_text)] for every field that differs, in FIELDS
    order; the account email is masked, as everywhere it is displayed."""
    out = []
    for f in FIELDS:
        a = getattr(old, f.key)
        b = getattr(new, f.key)
        if a != b:
            ta, tb = to_text(f, a), to_text(f, b)
            if f.is_list:
                ta, tb = " ".join(ta) or "(none)", " ".join(tb) or "(none)"
            if f.key == "account_email":
                ta, tb = mask_email(ta), mask_email(tb)
            out.append((f.key, ta, tb))
    return out


def format_diff(changes):
    """One line per change, for `config diff` on the console."""
    if not changes:
        return "no changes"
    return "\n".join(["%s: %s -> %s" % c for c in changes])
