"""Crypto providers for the core's crypto contract (core/cryptoapi.py).

Owns: the choice of the default provider. OpenSSLProvider (crypto/openssl.py)
when `cryptography` imports, else PureProvider (crypto/pure.py), the slow
pure-Python correctness path that also runs under MicroPython.

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
