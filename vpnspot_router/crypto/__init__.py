"""Crypto providers for the core's crypto contract (core/cryptoapi.py).

Owns: the choice of the default provider. OpenSSLProvider (crypto/openssl.py)
when `cryptography` imports, else PureProvider (crypto/pure.py), the slow
pure-Python correctness path that also runs under MicroPython. And
LazyProvider, the default provider made only when first used (the agent's,
when the kernel carries the tunnel).

Nothing is imported at module level so that `import vpnspot_router.crypto.pure`
stays cheap and MicroPython-safe.
"""


def default_provider():
    """The fastest provider this interpreter can load."""
    try:
        from vpnspot_router.crypto.openssl import OpenSSLProvider
    except ImportError:
        from vpnspot_router.crypto.pure import PureProvider
        return PureProvider()
    return OpenSSLProvider()


class LazyProvider(object):
    """default_provider(), made on first use of anything but randomness.

    For an agent whose tunnel the kernel carries: it needs X25519 and
    ChaCha20-Poly1305 only for rare work (the public key, timed handshakes
    to candidate servers), which driver.py runs in short-lived children
    while `loaded` is False, so `cryptography` (about 7 MB) never loads into
    the always-on process. random_bytes is os.urandom, as the real providers'."""

    def __init__(self, factory=None):
        self._factory = factory or default_provider
        self._real = None

    @property
    def loaded(self):
        return self._real is not None

    def load(self):
        """The real provider (made now if it was not yet)."""
        if self._real is None:
            self._real = self._factory()
        return self._real

    def random_bytes(self, n):
        import os
        return os.urandom(n)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.load(), name)
