"""The providers every crypto test runs against, as a pytest parameter.

Both must pass every known-answer vector; tests take the `provider` fixture
from conftest.py, which is parametrized over PROVIDERS.
"""

from vpnspot_router.crypto.openssl import OpenSSLProvider
from vpnspot_router.crypto.pure import PureProvider

PROVIDERS = (OpenSSLProvider, PureProvider)


def unhex(text):
    """Bytes from hex written the way the RFCs print it (spaces, colons, newlines)."""
    return bytes.fromhex("".join(text.replace(":", " ").split()))
