"""Board and crypto probe, the parsing half: text in, a hardware Profile out.

Owns: the parsers for what an OpenWrt-class router says about itself
(/proc/crypto, /proc/cpuinfo, /etc/board.json, `ubus call system board`,
/tmp/sysinfo/model and board_name, /proc/device-tree/compatible,
/etc/openwrt_release, /etc/os-release, the safexcel dmesg line) and the
Profile built from them. vpnspot_router/hw/probe.py reads the files and
hands their text in; core/offload.py decides from the Profile.

Rules it keeps:
- File content never raises. Routers, pastes and captures are truncated,
  lose their blank lines, carry shell prompts or comments: every parser
  takes what it recognises and ignores the rest. A missing file is None.
- Sans-IO and MicroPython-portable: no re beyond the basics, no os.path.
- Only identity the privacy promise allows leaves the box: telemetry may
  carry model and OS name/version from here, nothing else (core/telemetry).

Keep ENGINE_DRIVERS and WG_ALGORITHMS in step with hardware/boards.json.
"""


# /proc/crypto "name" fragments of the algorithms WireGuard needs, in the
# order a person reads them. rfc7539 is the ChaCha20-Poly1305 AEAD template
# AF_ALG asks for; rfc7539esp is IPsec's variant of it.
WG_ALGORITHMS = ("chacha20", "poly1305", "rfc7539", "blake2s", "curve25519")

# Hardware crypto engines, recognised by a fragment of their driver or
# module name (priority alone says nothing: CAAM registers at 3000,
# safexcel at 300, some vendor engines below software). Anything else in
# /proc/crypto is code running on the CPU.
ENGINE_DRIVERS = (
    ("safexcel", "safexcel"),        # Inside Secure EIP-97/197: MediaTek Filogic, Marvell
    ("eip93", "eip93"),              # Inside Secure EIP-93: MediaTek MT7621, Airoha
    ("qce", "qce"),                  # Qualcomm crypto engine: IPQ40xx, IPQ806x
    ("qcrypto", "qce"),
    ("caam", "caam"),                # NXP Layerscape / i.MX
    ("mv-cesa", "cesa"),             # Marvell Armada 370/38x
    ("marvell_cesa", "cesa"),
    ("sun8i-ce", "sun8i-ce"),        # Allwinner
    ("sun4i-ss", "sun4i-ss"),
    ("rk-crypto", "rockchip"),
    ("rockchip", "rockchip"),
    ("talitos", "talitos"),          # NXP PowerQUICC
    ("mtk-", "mtk-crypto"),
    ("atmel-", "atmel"),
    ("ccp-", "ccp"),                 # AMD CCP
    ("qat_", "qat"),                 # Intel QuickAssist
    ("virtio_crypto", "virtio-crypto"),
    ("nitrox", "nitrox"),
)

# CPU features that matter to crypto speed, as /proc/cpuinfo spells them.
ARM_CRYPTO_FEATURES = ("neon", "asimd", "aes", "pmull", "sha1", "sha2", "sha3", "sha512",
                       "crc32")
X86_CRYPTO_FEATURES = ("ssse3", "aes", "pclmulqdq", "avx", "avx2", "avx512f", "avx512vl",
                       "avx512bw", "sha_ni")
MIPS_CRYPTO_FEATURES = ("dsp", "dsp2", "msa")

# ARM "CPU part" numbers (implementer 0x41) of cores found in routers.
ARM_CORES = {
    "0xc07": "Cortex-A7", "0xc09": "Cortex-A9", "0xc0f": "Cortex-A15",
    "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55",
    "0xd07": "Cortex-A57", "0xd08": "Cortex-A72", "0xd09": "Cortex-A73",
    "0xd0b": "Cortex-A76",
}

# Module states reported by the adapter (hw/probe.py).
MODULE_LOADED = "loaded"
MODULE_BUILTIN = "builtin"
MODULE_AVAILABLE = "available"
MODULE_ABSENT = "absent"
MODULE_UNKNOWN = "unknown"
MODULE_PRESENT_STATES = (MODULE_LOADED, MODULE_BUILTIN, MODULE_AVAILABLE)

_KEY_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 _"
_ENV_KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"


def _is_key(text, allowed):
    if not text:
        return False
    for ch in text:
        if ch not in allowed:
            return False
    return True


def _int_or_none(text):
    text = (text or "").strip()
    if not text:
        return None
    sign = 1
    if text[0] == "-":
        sign = -1
        text = text[1:]
    if not text.isdigit():
        return None
    return sign * int(text)


# ---------------------------------------------------------------- /proc/crypto

def parse_proc_crypto(text):
    """The blocks of /proc/crypto as a list of dicts (key -> value string).

    A block ends at a blank line, or where a new "name" line starts (pastes
    that lost their blank lines). Lines that are not `key : value` with a
    lowercase key - prompts, "--" from grep, comments, dmesg - are skipped.
    A block cut off before its "name" (a truncated capture) is kept; callers
    look at what it has.
    """
    blocks = []
    current = {}
    for raw in (text or "").split("\n"):
        line = raw.strip()
        colon = line.find(":")
        key = line[:colon].strip() if colon > 0 else ""
        if colon <= 0 or not _is_key(key, _KEY_CHARS):
            if not line or line == "--":
                if current:
                    blocks.append(current)
                current = {}
            continue
        value = line[colon + 1:].strip()
        if current and (key == "name" or key in current):
            blocks.append(current)
            current = {}
        current[key] = value
    if current:
        blocks.append(current)
    return blocks


def engine_family(driver, module):
    """The hardware engine family a driver belongs to, or None for CPU code."""
    for part in (driver or "", module or ""):
        low = part.lower()
        for fragment, family in ENGINE_DRIVERS:
            if fragment in low:
                return family
    return None


def wg_algorithm(name):
    """Which WireGuard algorithm an algorithm name serves, or None.

    An AEAD like rfc7539(chacha20,poly1305) counts as "rfc7539", not as its
    parts: the parts are counted where they are registered on their own.
    """
    low = (name or "").lower()
    if "rfc7539" in low:
        return "rfc7539"
    if "chacha" in low:
        # xchacha12/xchacha20 come from the same arch module (chacha_neon,
        # chacha_mips) that gives the kernel its ChaCha20 library.
        return "chacha20"
    for alg in WG_ALGORITHMS:
        if alg in low:
            return alg
    return None


def is_rfc7539_aead(entry):
    """True for the plain rfc7539(chacha20,poly1305) AEAD AF_ALG can open."""
    name = entry.get("name", "")
    return name.startswith("rfc7539(") and entry.get("type", "aead") == "aead"


class Engine(object):
    """One hardware crypto engine as /proc/crypto shows it."""

    def __init__(self, family):
        self.family = family
        self.drivers = []
        self.modules = []
        self.priority = None
        self.algorithms = []
        self.wireguard = {}        # WG algorithm -> driver names
        self.rfc7539_drivers = []  # drivers AF_ALG could open for ChaCha20-Poly1305

    def _add(self, entry):
        driver = entry.get("driver", "")
        module = entry.get("module", "")
        name = entry.get("name", "")
        if driver and driver not in self.drivers:
            self.drivers.append(driver)
        if module and module not in self.modules:
            self.modules.append(module)
        priority = _int_or_none(entry.get("priority"))
        if priority is not None and (self.priority is None or priority > self.priority):
            self.priority = priority
        if name and name not in self.algorithms:
            self.algorithms.append(name)
        alg = wg_algorithm(name) or wg_algorithm(driver)
        if alg:
            self.wireguard.setdefault(alg, []).append(driver or name)
        if is_rfc7539_aead(entry):
            self.rfc7539_drivers.append(driver or name)

    @property
    def has_chacha20_poly1305(self):
        return bool(self.rfc7539_drivers)

    def as_dict(self):
        return {"family": self.family, "drivers": list(self.drivers),
                "modules": list(self.modules), "priority": self.priority,
                "algorithms": list(self.algorithms),
                "wireguard": dict((k, list(v)) for k, v in self.wireguard.items()),
                "chacha20_poly1305": self.has_chacha20_poly1305}


def crypto_summary(blocks):
    """(engines, cpu_impls, skipped) from parse_proc_crypto's blocks.

    engines: list of Engine, one per family, in order of appearance.
    cpu_impls: WG algorithm -> list of {"driver", "module", "priority"} for
        CPU code (generic C, NEON, MIPS asm, AVX) registered for it.
    skipped: how many blocks had neither name nor driver (truncated pastes).
    """
    engines = []
    by_family = {}
    cpu_impls = {}
    skipped = 0
    for entry in blocks:
        name = entry.get("name", "")
        driver = entry.get("driver", "")
        if not name and not driver:
            skipped += 1
            continue
        family = engine_family(driver, entry.get("module", ""))
        if family is not None:
            engine = by_family.get(family)
            if engine is None:
                engine = Engine(family)
                by_family[family] = engine
                engines.append(engine)
            engine._add(entry)
            continue
        alg = wg_algorithm(name) or wg_algorithm(driver)
        if alg is None:
            continue
        impl = {"name": name or None, "driver": driver or None,
                "module": entry.get("module") or None,
                "priority": _int_or_none(entry.get("priority"))}
        known = cpu_impls.setdefault(alg, [])
        if impl not in known:
            known.append(impl)
    return engines, cpu_impls, skipped


# ---------------------------------------------------------------- /proc/cpuinfo

def parse_cpuinfo(text):
    """Architecture, CPU model, core count and crypto features from /proc/cpuinfo.

    Returns a dict with keys arch ("mips", "arm", "arm64", "x86", "riscv" or
    None), system_type, machine, hardware, cpu_model, cores, features (sorted
    list of crypto-relevant ones) and all_features (every flag seen).
    """
    fields = {}
    cores = 0
    flags = []
    for raw in (text or "").split("\n"):
        colon = raw.find(":")
        if colon <= 0:
            continue
        key = raw[:colon].strip().lower()
        value = raw[colon + 1:].strip()
        if not _is_key(key, _KEY_CHARS):
            continue
        if key == "processor" and _int_or_none(value) is not None:
            cores += 1
        if key not in fields:
            fields[key] = value
        if key in ("features", "flags", "ases implemented", "isa extensions"):
            for flag in value.split():
                if flag not in flags:
                    flags.append(flag)
    arch = None
    cpu_model = fields.get("cpu model") or fields.get("model name") or None
    if "system type" in fields or (cpu_model or "").startswith("MIPS") \
            or "ases implemented" in fields:
        arch = "mips"
        wanted = MIPS_CRYPTO_FEATURES
    elif "vendor_id" in fields or ("flags" in fields and "features" not in fields):
        arch = "x86"
        wanted = X86_CRYPTO_FEATURES
    elif "cpu architecture" in fields or "features" in fields:
        # AArch64 spells NEON "asimd"; a 32-bit ARMv8 kernel still says "neon".
        arch = "arm64" if "asimd" in flags else "arm"
        wanted = ARM_CRYPTO_FEATURES
        if cpu_model is None:
            part = fields.get("cpu part", "").lower()
            cpu_model = ARM_CORES.get(part)
    elif "isa" in fields and fields["isa"].startswith("rv"):
        arch = "riscv"
        wanted = ()
    else:
        wanted = ()
    return {
        "arch": arch,
        "system_type": fields.get("system type") or None,
        "machine": fields.get("machine") or None,
        "hardware": fields.get("hardware") or None,
        "cpu_model": cpu_model,
        "cores": cores or None,
        "features": sorted(f for f in flags if f in wanted),
        "all_features": flags,
    }


def simd_of(arch, features):
    """The SIMD family kernel WireGuard's ChaCha20-Poly1305 can use, or None."""
    if arch == "arm64" and "asimd" in features:
        return "asimd"
    if arch == "arm" and "neon" in features:
        return "neon"
    if arch == "x86":
        for name in ("avx512f", "avx2", "avx", "ssse3"):
            if name in features:
                return name
    return None


# ---------------------------------------------------------------- JSON (lenient)

def _json_string(text, i):
    """(value, index after the closing quote) for a string starting at text[i]."""
    out = []
    i += 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\" and i + 1 < n:
            esc = text[i + 1]
            if esc == "u" and i + 5 < n:
                try:
                    code = int(text[i + 2:i + 6], 16)
                except ValueError:
                    code = None
                out.append(chr(code) if code is not None else "?")
                i += 6
                continue
            out.append({"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}.get(esc, esc))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out), n


def flat_json(text):
    """Every scalar inside JSON objects, as a dict "a.b.c" -> string.

    A tolerant scanner rather than json.loads: ubus prints raw newlines
    inside strings and captures are cut off mid-object, and the fields we
    want (model, board_name, release.version...) come early. Array members
    are not recorded. Numbers and literals are kept as their text.
    """
    text = text or ""
    start = text.find("{")
    if start < 0:
        return {}
    out = {}
    stack = []        # per container: [is_object, pending key or None]
    expecting_value = False
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "{[":
            stack.append([ch == "{", None])
            expecting_value = False
            i += 1
        elif ch in "}]":
            if stack:
                stack.pop()
            if stack:
                stack[-1][1] = None
            if not stack:
                break
            i += 1
        elif ch == ":":
            expecting_value = True
            i += 1
        elif ch == ",":
            if stack:
                stack[-1][1] = None
            expecting_value = False
            i += 1
        elif ch == '"':
            value, i = _json_string(text, i)
            if stack and stack[-1][0]:
                if not expecting_value:
                    stack[-1][1] = value
                else:
                    if not _in_array(stack):
                        out[_path(stack)] = value
                    stack[-1][1] = None
                    expecting_value = False
        elif ch in " \t\r\n":
            i += 1
        else:
            j = i
            while j < n and text[j] not in ",}] \t\r\n":
                j += 1
            if stack and stack[-1][0] and expecting_value:
                if not _in_array(stack):
                    out[_path(stack)] = text[i:j]
                stack[-1][1] = None
                expecting_value = False
            i = max(j, i + 1)
    return out


def _in_array(stack):
    for is_object, _ in stack:
        if not is_object:
            return True
    return False


def _path(stack):
    parts = []
    for is_object, key in stack:
        if is_object and key is not None:
            parts.append(key)
    return ".".join(parts)


def parse_board_json(text):
    """{"model_id", "model_name"} from /etc/board.json (None where absent)."""
    flat = flat_json(text)
    return {"model_id": flat.get("model.id") or None,
            "model_name": flat.get("model.name") or None}


def parse_ubus_board(text):
    """The fields of `ubus call system board` we use (None where absent)."""
    flat = flat_json(text)
    target = flat.get("release.target")
    return {
        "model": flat.get("model") or None,
        "board_name": flat.get("board_name") or None,
        "system": flat.get("system") or None,
        "kernel": flat.get("kernel") or None,
        "distribution": flat.get("release.distribution") or None,
        "version": flat.get("release.version") or None,
        "revision": flat.get("release.revision") or None,
        "target": target.replace("\\/", "/") if target else None,
    }


# ---------------------------------------------------------------- shell env files

def parse_env_file(text):
    """KEY=value pairs of /etc/openwrt_release or /etc/os-release.

    Values may be single- or double-quoted, and a quoted value may run over
    several lines (some builds put a newline in DISTRIB_DESCRIPTION). Lines
    that are not assignments (prompts, comments) are ignored.
    """
    out = {}
    lines = (text or "").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        i += 1
        eq = line.find("=")
        if eq <= 0 or line.startswith("#"):
            continue
        key = line[:eq]
        if not _is_key(key, _ENV_KEY_CHARS) or key[0].isdigit():
            continue
        value = line[eq + 1:]
        if value[:1] in ("'", '"'):
            quote = value[0]
            value = value[1:]
            while quote not in value and i < len(lines):
                value = value + "\n" + lines[i].rstrip()
                i += 1
            end = value.find(quote)
            if end >= 0:
                value = value[:end]
        out[key] = value.strip()
    return out


# ---------------------------------------------------------------- device tree and SoC

def parse_compatible(data):
    """The compatible strings of /proc/device-tree/compatible (NUL separated)."""
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8", "replace")
    return [part.strip() for part in (data or "").split("\x00") if part.strip()]


def _soc_token(text):
    """The first word shaped like a SoC part number (MT7621, QCA9533, IPQ4019)."""
    for word in (text or "").replace(",", " ").replace("/", " ").split():
        low = word.lower()
        letters = 0
        while letters < len(low) and low[letters].isalpha():
            letters += 1
        rest = low[letters:]
        if 2 <= letters <= 4 and len(rest) >= 3 and rest[:2].isdigit():
            return low
    return None


def soc_from(compatible, cpuinfo, target):
    """(soc id, where it came from) or (None, None).

    The device tree's last compatible string names the SoC on ARM
    ("mediatek,mt7981"); MIPS names it in cpuinfo's "system type"; the
    OpenWrt target's subtarget sometimes does ("ramips/mt7621").
    """
    if compatible and len(compatible) > 1:
        last = compatible[-1]
        soc = _soc_token(last.split(",")[-1])
        if soc:
            return soc, "device-tree"
    soc = _soc_token((cpuinfo or {}).get("system_type"))
    if soc:
        return soc, "cpuinfo"
    if target and "/" in target:
        soc = _soc_token(target.split("/")[-1])
        if soc:
            return soc, "target"
    return None, None


# ---------------------------------------------------------------- safexcel dmesg

# enum safexcel_eip_algorithms (drivers/crypto/inside-secure/safexcel.h).
SAFEXCEL_CHACHA20_BIT = 8
SAFEXCEL_POLY1305_BIT = 9


def parse_safexcel_algmask(text):
    """The EIP-197 capability mask from safexcel's probe line, or None.

    The line reads "...PE:151/450(alg:7fe1fc00)/...". Returns
    {"mask": int, "chacha20": bool, "poly1305": bool}: without both bits
    the driver registers no ChaCha20-Poly1305 at all.
    """
    for line in (text or "").split("\n"):
        if "safexcel" not in line:
            continue
        at = line.find("(alg:")
        if at < 0:
            continue
        end = line.find(")", at)
        digits = line[at + 5:end if end > 0 else len(line)].strip()
        try:
            mask = int(digits, 16)
        except ValueError:
            continue
        return {"mask": mask, "chacha20": bool(mask & (1 << SAFEXCEL_CHACHA20_BIT)),
                "poly1305": bool(mask & (1 << SAFEXCEL_POLY1305_BIT))}
    return None


# ---------------------------------------------------------------- the profile

def _first_line(text):
    if text is None:
        return None
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    for line in text.replace("\x00", "\n").split("\n"):
        if line.strip():
            return line.strip()
    return None


class Profile(object):
    """What the router is, as far as choosing WireGuard's data plane goes."""

    FIELDS = ("model", "board_name", "soc", "soc_source", "arch", "cpu_model", "cpu_cores",
              "os_name", "os_version", "os_target", "kernel_release", "cpu_features", "simd",
              "engines", "cpu_impls", "wireguard_module", "af_alg", "sources", "notes")

    def __init__(self):
        self.model = None
        self.board_name = None
        self.soc = None
        self.soc_source = None
        self.arch = None
        self.cpu_model = None
        self.cpu_cores = None
        self.os_name = None
        self.os_version = None
        self.os_target = None
        self.kernel_release = None
        self.cpu_features = []
        self.simd = None
        self.engines = []
        self.cpu_impls = {}
        self.wireguard_module = MODULE_UNKNOWN
        self.af_alg = None             # True / False / None (not checked)
        self.sources = []              # the inputs that contributed
        self.notes = []                # what was odd about them

    def engine(self, family):
        for engine in self.engines:
            if engine.family == family:
                return engine
        return None

    @property
    def wireguard_module_present(self):
        return self.wireguard_module in MODULE_PRESENT_STATES

    def rfc7539_drivers(self):
        """Every driver of the rfc7539 AEAD, engines first."""
        out = []
        for engine in self.engines:
            out.extend(engine.rfc7539_drivers)
        for impl in self.cpu_impls.get("rfc7539", ()):
            if (impl.get("name") or "").startswith("rfc7539("):
                out.append(impl.get("driver") or impl.get("name"))
        return out

    def as_dict(self):
        out = {}
        for field in self.FIELDS:
            value = getattr(self, field)
            if field == "engines":
                value = [e.as_dict() for e in value]
            elif field == "cpu_impls":
                value = dict((k, [dict(i) for i in v]) for k, v in value.items())
            elif isinstance(value, list):
                value = list(value)
            out[field] = value
        return out


def build_profile(texts):
    """A Profile from a dict of input name -> text (None or absent: missing).

    Names: "proc/crypto", "proc/cpuinfo", "etc/board.json", "ubus_board",
    "tmp/sysinfo/model", "tmp/sysinfo/board_name", "device-tree/compatible",
    "etc/openwrt_release", "etc/os-release", "kernel_release", "dmesg".
    Never raises on content: whatever cannot be read is left None and, where
    a person would wonder, noted in profile.notes.
    """
    p = Profile()
    for name in sorted(texts):
        if texts[name] is not None:
            p.sources.append(name)

    ubus = parse_ubus_board(texts.get("ubus_board"))
    board = parse_board_json(texts.get("etc/board.json"))
    release = parse_env_file(texts.get("etc/openwrt_release"))
    osrel = parse_env_file(texts.get("etc/os-release"))
    cpu = parse_cpuinfo(texts.get("proc/cpuinfo"))
    compatible = parse_compatible(texts.get("device-tree/compatible"))

    p.model = (_first_line(texts.get("tmp/sysinfo/model")) or ubus["model"]
               or board["model_name"] or cpu["machine"] or cpu["hardware"])
    p.board_name = (_first_line(texts.get("tmp/sysinfo/board_name")) or ubus["board_name"]
                    or board["model_id"] or (compatible[0] if compatible else None))

    p.os_name = (ubus["distribution"] or release.get("DISTRIB_ID") or osrel.get("NAME")
                 or None)
    p.os_version = (ubus["version"] or release.get("DISTRIB_RELEASE")
                    or osrel.get("VERSION") or osrel.get("VERSION_ID") or None)
    p.os_target = (ubus["target"] or release.get("DISTRIB_TARGET")
                   or osrel.get("OPENWRT_BOARD") or None)
    p.kernel_release = _first_line(texts.get("kernel_release")) or ubus["kernel"]

    p.arch = cpu["arch"]
    if p.arch is None:
        p.arch = _arch_from_package_arch(release.get("DISTRIB_ARCH")
                                         or osrel.get("OPENWRT_ARCH"))
    p.cpu_model = cpu["cpu_model"] or ubus["system"]
    p.cpu_cores = cpu["cores"]
    p.cpu_features = cpu["features"]
    p.simd = simd_of(p.arch, p.cpu_features)

    p.soc, p.soc_source = soc_from(compatible, {"system_type": cpu["system_type"]
                                                or ubus["system"]}, p.os_target)

    if texts.get("proc/crypto") is not None:
        blocks = parse_proc_crypto(texts.get("proc/crypto"))
        p.engines, p.cpu_impls, skipped = crypto_summary(blocks)
        if skipped:
            p.notes.append("/proc/crypto: %d block(s) without name or driver ignored "
                           "(truncated?)" % skipped)
        if not blocks:
            p.notes.append("/proc/crypto: no algorithm blocks recognised")
    mask = parse_safexcel_algmask(texts.get("dmesg"))
    if mask is not None:
        p.notes.append("safexcel capability mask 0x%08x: ChaCha20 %s, Poly1305 %s" % (
            mask["mask"], "yes" if mask["chacha20"] else "no",
            "yes" if mask["poly1305"] else "no"))
    return p


def _arch_from_package_arch(pkg_arch):
    """OpenWrt's package architecture (mipsel_24kc, aarch64_cortex-a53) -> arch."""
    low = (pkg_arch or "").lower()
    if low.startswith("mips"):
        return "mips"
    if low.startswith("aarch64"):
        return "arm64"
    if low.startswith("arm"):
        return "arm"
    if low.startswith("x86_64") or low.startswith("i386") or low.startswith("i686"):
        return "x86"
    if low.startswith("riscv"):
        return "riscv"
    return None
