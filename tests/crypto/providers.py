"""The providers every crypto test runs against, as a pytest parameter.

All must pass every known-answer vector; tests take the `provider` fixture
from conftest.py, which is parametrized over PROVIDERS.

VPNSPOT_TEST_PROVIDERS=name[,name...] replaces the default pair, e.g.
"afalg" inside the router VM (tests/vm) where the kernel has AF_ALG. A named
provider that cannot run here is an error at collection, never a skip.
"""

import os

from vpnspot_router.crypto.openssl import OpenSSLProvider
from vpnspot_router.crypto.pure import PureProvider


def _named(name):
    if name == "openssl":
        return OpenSSLProvider
    if name == "pure":
        return PureProvider
    if name == "afalg":
        from vpnspot_router.crypto import afalg
        state = afalg.available()
        if not state:
            raise RuntimeError("VPNSPOT_TEST_PROVIDERS names afalg, but: %s" % state.reason)
        return afalg.AfAlgProvider
    raise RuntimeError("VPNSPOT_TEST_PROVIDERS: unknown provider %r (openssl, pure, afalg)" % name)


_SELECTED = os.environ.get("VPNSPOT_TEST_PROVIDERS", "").strip()
if _SELECTED:
    PROVIDERS = tuple(_named(n.strip()) for n in _SELECTED.split(",") if n.strip())
else:
    PROVIDERS = (OpenSSLProvider, PureProvider)


def unhex(text):
    """Bytes from hex written the way the RFCs print it (spaces, colons, newlines)."""
    return bytes.fromhex("".join(text.replace(":", " ").split()))
