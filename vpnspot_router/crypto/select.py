"""Measured crypto selection: benchmark the providers briefly, cache, decide.

Owns: finding the providers this router can load (OpenSSL, AF_ALG when
crypto/afalg.py is installed and the kernel lets it open a socket, pure
Python), checking each seals exactly like the reference implementation,
timing them with 64-, 512- and 1420-byte packets inside a fixed budget
(well under a second for all of them), and the JSON cache that keeps the
result per (board, kernel release, agent version) so a router measures once
after an upgrade, not at every start. The decision itself is
core/offload.decide(); this module feeds it.

Data flow:
  hw.probe.probe() -> Profile ----------------------------.
  providers() -> verify() -> measure() -> cache file ------+-> offload.decide() -> Decision
  override (configuration or --override) -----------------'

The cache is written atomically (temporary file, fsync, rename, fsync of the
directory); a cache that is unreadable, of another key or malformed is
ignored and rewritten, never trusted.
"""

import json
import os
import tempfile
import time

from vpnspot_router.core import offload

DEFAULT_CACHE = "/var/lib/vpnspot/crypto-choice.json"
CACHE_FORMAT = 1
# Seconds of measuring per provider and packet size. Three sizes, at most
# three providers: about 0.3 s in all, plus one packet's worth for a slow one.
DEFAULT_SLICE = 0.03
# Fixed key and counter for the correctness check: every provider must seal
# this packet to the same bytes as the pure-Python reference.
_CHECK_KEY = bytes(range(32))
_CHECK_COUNTER = 7
_CHECK_PACKET = bytes(range(64))


def agent_version():
    from vpnspot_router.version import VERSION
    return VERSION


def _load_afalg():
    """An AF_ALG provider instance, or (None, why not).

    crypto/afalg.py may be missing (older installs, or not written yet); it
    may import but find no AF_ALG in the kernel. Either way the answer is a
    reason, not an exception.
    """
    try:
        from vpnspot_router.crypto import afalg
    except ImportError as e:
        return None, "AF_ALG provider not installed (%s)" % e
    except Exception as e:  # a broken module must not stop the tunnel
        return None, "AF_ALG provider failed to import: %s" % e
    check = getattr(afalg, "available", None)
    if callable(check):
        try:
            verdict = check()
        except Exception as e:
            return None, "AF_ALG check failed: %s" % e
        if not verdict:
            return None, getattr(verdict, "reason", None) or "AF_ALG is not available"
    factories = []
    for attr in ("AfAlgProvider", "AFALGProvider", "AfalgProvider", "AFAlgProvider"):
        if hasattr(afalg, attr):
            factories.append(getattr(afalg, attr))
    if not factories:
        for attr in sorted(dir(afalg)):
            obj = getattr(afalg, attr)
            if attr.endswith("Provider") and isinstance(obj, type) and hasattr(obj, "aead"):
                factories.append(obj)
    if not factories:
        return None, "crypto/afalg.py has no provider class"
    try:
        return factories[0](), None
    except Exception as e:
        return None, "AF_ALG unavailable: %s" % e


def providers():
    """({name: provider}, {name: why unavailable}) for every known provider."""
    found = {}
    problems = {}
    try:
        from vpnspot_router.crypto.openssl import OpenSSLProvider
        found["openssl"] = OpenSSLProvider()
    except ImportError as e:
        problems["openssl"] = "cryptography is not installed (%s)" % e
    afalg, why = _load_afalg()
    if afalg is not None:
        found["afalg"] = afalg
    else:
        problems["afalg"] = why
    from vpnspot_router.crypto.pure import PureProvider
    found["pure"] = PureProvider()
    return found, problems


def verify(provider, reference):
    """None if provider seals and opens the check packet like reference, else why not."""
    try:
        expected = reference.aead(_CHECK_KEY).seal(_CHECK_COUNTER, _CHECK_PACKET, b"")
        cipher = provider.aead(_CHECK_KEY)
        sealed = cipher.seal(_CHECK_COUNTER, _CHECK_PACKET, b"")
        if sealed != expected:
            return "sealed a test packet to different bytes than the reference implementation"
        if cipher.open(_CHECK_COUNTER, sealed, b"") != _CHECK_PACKET:
            return "could not open a packet it sealed"
        tampered = bytearray(sealed)
        tampered[0] ^= 1
        if cipher.open(_CHECK_COUNTER, bytes(tampered), b"") is not None:
            return "accepted a tampered packet"
    except Exception as e:
        return "failed the correctness check: %s" % e
    return None


def measure_one(provider, size, seconds, clock=time.perf_counter):
    """Packets of `size` bytes sealed per second, measured for about `seconds`."""
    cipher = provider.aead(_CHECK_KEY)
    packet = bytes(size)
    cipher.seal(0, packet, b"")  # warm-up outside the timing
    count = 0
    batch = 1
    start = clock()
    while True:
        for i in range(batch):
            cipher.seal(count + i, packet, b"")
        count += batch
        elapsed = clock() - start
        if elapsed >= seconds:
            return count / elapsed if elapsed > 0 else 0.0
        batch = min(batch * 2, 256)


def measure(found, seconds=DEFAULT_SLICE, clock=time.perf_counter):
    """({name: {size: ops/s}}, {name: why excluded}) over `found` providers."""
    from vpnspot_router.crypto.pure import PureProvider
    reference = PureProvider()
    results = {}
    problems = {}
    for name in sorted(found):
        problem = verify(found[name], reference)
        if problem is not None:
            problems[name] = problem
            continue
        try:
            results[name] = dict((size, measure_one(found[name], size, seconds, clock))
                                 for size in offload.PACKET_SIZES)
        except Exception as e:
            problems[name] = "failed while measured: %s" % e
    return results, problems


# ---------------------------------------------------------------- cache

def cache_key(profile, version=None):
    board = profile.board_name or profile.model or profile.soc or "unknown-board"
    return {"board": board, "kernel": profile.kernel_release or "unknown-kernel",
            "agent": version or agent_version()}


def read_cache(path, key):
    """Cached measurements for exactly this key, or None (missing, stale, broken)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT \
            or data.get("key") != key:
        return None
    try:
        return offload.normalize_measurements(data.get("measurements"))
    except offload.OffloadError:
        return None


def write_cache(path, key, measurements, problems):
    """Write the cache atomically: a crash leaves the old file or the new one."""
    payload = {"format": CACHE_FORMAT, "key": key, "measured_at": int(time.time()),
               "measurements": dict((p, dict((str(s), v) for s, v in m.items()))
                                    for p, m in measurements.items()),
               "excluded": problems}
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".crypto-choice.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------- choose

def choose(profile, override=None, cache_path=DEFAULT_CACHE, use_cache=True,
           found=None, seconds=DEFAULT_SLICE, version=None, clock=time.perf_counter):
    """The Decision for this router, measuring unless the cache holds a result.

    use_cache=False measures afresh (and saves the new result); cache_path
    None neither reads nor writes a cache.

    Raises offload.OffloadError for an unknown override name (checked before
    anything is measured or written). A cache that cannot be written is
    reported in decision.warnings; the decision stands.
    """
    offload.normalize_override(override)
    key = cache_key(profile, version)
    measurements = read_cache(cache_path, key) if use_cache and cache_path else None
    problems = {}
    cached = measurements is not None
    if measurements is None:
        if found is None:
            found, problems = providers()
        else:
            problems = {}
        measurements, failed = measure(found, seconds, clock)
        problems.update(failed)
    decision = offload.decide(profile, None, measurements, override)
    decision.cached = cached
    decision.cache_key = key
    decision.excluded = problems
    if not cached and cache_path:
        try:
            write_cache(cache_path, key, measurements, problems)
        except OSError as e:
            decision.warnings.append("could not save the measurement to %s: %s"
                                     % (cache_path, e.strerror or e))
    return decision
