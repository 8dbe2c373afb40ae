"""The offload decision: which data plane and crypto provider carry the tunnel, and why.

Owns: the policy of ../shared HARDWARE.md as a pure function, decide(), and
the Decision it returns. Inputs are a hardware Profile (core/hwprobe.py),
whether the kernel's WireGuard module is there, measured provider speeds
(crypto/select.py measures them) and the household's or ISP's override.

The rules, in order:
1. An override from configuration wins, and the reason says so. When the
   overridden choice cannot run here, the automatic choice is used instead
   and the reason and warnings say why.
2. Kernel WireGuard whenever its module is present: it runs ChaCha20-Poly1305
   on the CPU's own SIMD/asm code and never uses /proc/crypto engines, and
   Python stays out of the packet path.
3. Otherwise the userspace data plane with the fastest measured provider,
   weighted to packet sizes: 64-byte packets (TCP ACKs, DNS, games) and
   1420-byte packets (bulk transfer at WireGuard's MTU) count twice as much
   as 512. Speeds are compared relative to the best at each size, so the
   big packets' bytes do not drown out the small packets' count.
4. A crypto engine that does not register rfc7539(chacha20,poly1305) is
   never a candidate: WireGuard has no use for AES or SHA engines.

The reason is one sentence for a household or a technician, e.g.
"engine safexcel present, no ChaCha20-Poly1305 support; using kernel WireGuard".
Keep PROVIDERS in step with crypto/select.py.
"""

DATA_PLANE_KERNEL = "kernel"
DATA_PLANE_USERSPACE = "userspace"

PACKET_SIZES = (64, 512, 1420)
SIZE_WEIGHTS = {64: 2, 512: 1, 1420: 2}

# Userspace providers, in the order that breaks a tie in measured speed:
# OpenSSL is the best-tested path, AF_ALG depends on the kernel, pure Python
# is the correctness path.
PROVIDERS = ("openssl", "afalg", "pure")
PROVIDER_LABELS = {"openssl": "OpenSSL", "afalg": "the kernel crypto API (AF_ALG)",
                   "pure": "pure Python", "kernel": "the kernel"}
AUTO = "auto"
OVERRIDES = (AUTO, DATA_PLANE_KERNEL, DATA_PLANE_USERSPACE) + PROVIDERS


class OffloadError(ValueError):
    """Malformed input to decide(): an unknown override or broken measurements."""


class Decision(object):
    """The chosen data plane and provider, with the reason a person reads."""

    def __init__(self, data_plane, provider, reason):
        self.data_plane = data_plane
        self.provider = provider
        self.reason = reason
        self.override = None          # the override asked for, if any
        self.overridden = False       # True when the override was honoured
        self.warnings = []
        self.measurements = {}        # provider -> {size: ops per second}
        self.scores = {}              # provider -> weighted relative speed, 0..1
        self.candidates = []          # what was considered: dicts name/kind/eligible/why
        self.excluded = {}            # provider -> why it could not be measured (adapter fills)
        self.cached = None            # True when measurements came from the cache (adapter fills)

    def as_dict(self):
        return {
            "data_plane": self.data_plane,
            "provider": self.provider,
            "reason": self.reason,
            "override": self.override,
            "overridden": self.overridden,
            "warnings": list(self.warnings),
            "measurements": dict((p, dict((str(s), v) for s, v in m.items()))
                                 for p, m in self.measurements.items()),
            "scores": dict(self.scores),
            "candidates": [dict(c) for c in self.candidates],
            "excluded": dict(self.excluded),
            "cached": self.cached,
        }

    def __repr__(self):
        return "Decision(%r, %r, %r)" % (self.data_plane, self.provider, self.reason)


def normalize_override(override):
    """The override as one of OVERRIDES, or OffloadError naming the choices."""
    if override is None:
        return AUTO
    if not isinstance(override, str):
        raise OffloadError("crypto override must be a name, not %r" % (override,))
    name = override.strip().lower()
    if not name:
        return AUTO
    if name not in OVERRIDES:
        raise OffloadError("crypto override %r is not one of: %s"
                           % (override, ", ".join(OVERRIDES)))
    return name


def normalize_measurements(measurements):
    """{provider: {size(int): ops/s(float)}} after checking every value.

    Sizes may arrive as strings (from the JSON cache). A size we do not use,
    a negative or non-numeric rate, or a non-dict raises OffloadError naming
    the provider and size; a missing size counts as zero for that provider.
    """
    if measurements is None:
        return {}
    if not isinstance(measurements, dict):
        raise OffloadError("measurements must be a dict of provider -> {size: ops/s}")
    out = {}
    for provider, by_size in measurements.items():
        if not isinstance(provider, str) or not provider:
            raise OffloadError("measurement provider name %r is not a name" % (provider,))
        if not isinstance(by_size, dict):
            raise OffloadError("measurements for %s must map packet size to ops/s" % provider)
        clean = {}
        for size, rate in by_size.items():
            size_int = size
            if isinstance(size, str) and size.isdigit():
                size_int = int(size)
            if size_int not in PACKET_SIZES:
                raise OffloadError("measurement for %s has packet size %r; expected one of %s"
                                   % (provider, size, ", ".join(str(s) for s in PACKET_SIZES)))
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != rate \
                    or rate < 0:
                raise OffloadError("measurement for %s at %d bytes is %r; expected a "
                                   "non-negative number of operations per second"
                                   % (provider, size_int, rate))
            clean[size_int] = float(rate)
        out[provider] = clean
    return out


def score(measurements):
    """provider -> weighted speed relative to the best provider at each size (0..1)."""
    best = {}
    for by_size in measurements.values():
        for size in PACKET_SIZES:
            rate = by_size.get(size, 0.0)
            if rate > best.get(size, 0.0):
                best[size] = rate
    total_weight = 0
    for size in PACKET_SIZES:
        total_weight += SIZE_WEIGHTS[size]
    scores = {}
    for provider, by_size in measurements.items():
        value = 0.0
        for size in PACKET_SIZES:
            if best.get(size):
                value += SIZE_WEIGHTS[size] * by_size.get(size, 0.0) / best[size]
        scores[provider] = value / total_weight
    return scores


def _rank_key(provider):
    if provider in PROVIDERS:
        return (PROVIDERS.index(provider), provider)
    return (len(PROVIDERS), provider)


def fastest(scores):
    """The provider with the highest score (ties: PROVIDERS order), or None."""
    best = None
    for provider in sorted(scores, key=_rank_key):
        if scores[provider] <= 0:
            continue
        if best is None or scores[provider] > scores[best]:
            best = provider
    return best


# ---------------------------------------------------------------- phrases

def engine_phrase(profile):
    """What the engines mean for WireGuard, as a clause, or None without engines."""
    engines = list(getattr(profile, "engines", None) or ())
    if not engines:
        return None
    with_aead = [e for e in engines if e.has_chacha20_poly1305]
    without = [e.family for e in engines if not e.has_chacha20_poly1305]
    parts = []
    if without:
        if len(without) == 1:
            parts.append("engine %s present, no ChaCha20-Poly1305 support" % without[0])
        else:
            parts.append("engines %s present, none with ChaCha20-Poly1305"
                         % ", ".join(without))
    for engine in with_aead:
        parts.append("engine %s registers ChaCha20-Poly1305 (%s)"
                     % (engine.family, ", ".join(engine.rfc7539_drivers)))
    return "; ".join(parts)


def cpu_phrase(profile):
    """Which CPU code kernel WireGuard's cipher runs on, if the profile shows it."""
    drivers = []
    impls = getattr(profile, "cpu_impls", None) or {}
    for alg in ("chacha20", "poly1305"):
        for impl in impls.get(alg, ()):
            driver = impl.get("driver") or ""
            if driver and "generic" not in driver and driver not in drivers:
                drivers.append(driver)
    if drivers:
        return "ChaCha20-Poly1305 on the CPU: " + ", ".join(drivers)
    simd = getattr(profile, "simd", None)
    if simd:
        return "ChaCha20-Poly1305 on the CPU's %s code" % simd
    return None


def _candidates(profile, measurements):
    out = []
    for engine in list(getattr(profile, "engines", None) or ()):
        if engine.has_chacha20_poly1305:
            why = "registers %s; reachable through AF_ALG" % ", ".join(engine.rfc7539_drivers)
        else:
            why = "no rfc7539(chacha20,poly1305): WireGuard cannot use it"
        out.append({"name": engine.family, "kind": "engine",
                    "eligible": engine.has_chacha20_poly1305, "why": why})
    for provider in sorted(measurements, key=_rank_key):
        out.append({"name": provider, "kind": "provider", "eligible": True,
                    "why": "measured"})
    return out


def _sentence(*parts):
    return "; ".join(p for p in parts if p)


def _auto(profile, kernel_wireguard, scores, measurements):
    """(data plane, provider, reason) by rules 2-4."""
    engines = engine_phrase(profile)
    if kernel_wireguard:
        cpu = cpu_phrase(profile)
        lead = engines
        if engines and any(e.has_chacha20_poly1305 for e in profile.engines):
            lead = engines + ", but kernel WireGuard never uses crypto engines"
        if lead is None:
            lead = "kernel WireGuard module present"
        tail = "using kernel WireGuard" + (" (%s)" % cpu if cpu else "")
        return DATA_PLANE_KERNEL, "kernel", _sentence(lead, tail)
    best = fastest(scores)
    if best is None:
        return (DATA_PLANE_USERSPACE, None,
                _sentence("no kernel WireGuard module", engines,
                          "no crypto provider measured, so the tunnel cannot start"))
    rate = measurements[best].get(1420, 0.0)
    others = [p for p in sorted(scores, key=_rank_key) if p != best]
    detail = "fastest of %d measured" % len(scores) if others else "the only provider measured"
    tail = "using userspace WireGuard with %s (%s, %.0f packets/s at 1420 bytes)" % (
        PROVIDER_LABELS.get(best, best), detail, rate)
    return DATA_PLANE_USERSPACE, best, _sentence("no kernel WireGuard module", engines, tail)


def decide(profile, kernel_wireguard=None, measurements=None, override=None):
    """The Decision for this router. Raises OffloadError only for malformed
    input (unknown override name, broken measurements); an override that
    cannot run here falls back to the automatic choice with a warning."""
    choice = normalize_override(override)
    measured = normalize_measurements(measurements)
    if kernel_wireguard is None:
        kernel_wireguard = bool(getattr(profile, "wireguard_module_present", False))
    scores = score(measured)
    plane, provider, reason = _auto(profile, kernel_wireguard, scores, measured)

    decision = Decision(plane, provider, reason)
    decision.measurements = measured
    decision.scores = scores
    decision.candidates = _candidates(profile, measured)
    if choice == AUTO:
        return decision
    decision.override = choice

    unavailable = None
    if choice == DATA_PLANE_KERNEL:
        if kernel_wireguard:
            plane, provider = DATA_PLANE_KERNEL, "kernel"
            what = "kernel WireGuard"
        else:
            unavailable = "the WireGuard kernel module is not on this router"
    elif choice == DATA_PLANE_USERSPACE:
        best = fastest(scores)
        if best is None:
            unavailable = "no crypto provider works on this router"
        else:
            plane, provider = DATA_PLANE_USERSPACE, best
            what = "userspace WireGuard with %s" % PROVIDER_LABELS.get(best, best)
    else:
        if scores.get(choice, 0.0) > 0:
            plane, provider = DATA_PLANE_USERSPACE, choice
            what = "userspace WireGuard with %s" % PROVIDER_LABELS.get(choice, choice)
        else:
            unavailable = "%s did not work when measured on this router" % (
                PROVIDER_LABELS.get(choice, choice))

    if unavailable is not None:
        warning = "crypto override %s cannot be used: %s" % (choice, unavailable)
        decision.warnings.append(warning)
        decision.reason = "override %s unavailable (%s), falling back: %s" % (
            choice, unavailable, reason)
        return decision
    decision.data_plane = plane
    decision.provider = provider
    decision.overridden = True
    decision.reason = "overridden in configuration to %s (automatic choice: %s)" % (what, reason)
    return decision
