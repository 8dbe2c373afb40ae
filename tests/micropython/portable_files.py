"""Which files must stay MicroPython-portable, shared by the gates in this directory.

Owns the list: everything under vpnspot_router/core/, the pure crypto
provider MicroPython uses (crypto/pure.py, crypto/chacha_pure.py) and the
MicroPython-side scripts in this directory. test_syntax.py compiles them,
test_import_rule.py checks the imports of the core part.
"""

import pathlib

PROJECT_DIR = pathlib.Path(__file__).resolve().parents[2]
CORE_DIR = PROJECT_DIR / "vpnspot_router" / "core"
CORE_PACKAGE = "vpnspot_router.core"

# Outside core/ but run by MicroPython all the same.
EXTRA_PORTABLE = (
    PROJECT_DIR / "vpnspot_router" / "crypto" / "pure.py",
    PROJECT_DIR / "vpnspot_router" / "crypto" / "chacha_pure.py",
    PROJECT_DIR / "tests" / "micropython" / "mp_driver.py",
    PROJECT_DIR / "tests" / "micropython" / "mp_bench.py",
)


def core_files():
    return sorted(p for p in CORE_DIR.rglob("*.py") if "__pycache__" not in p.parts)


def portable_files():
    return core_files() + list(EXTRA_PORTABLE)


def rel(path):
    return str(pathlib.Path(path).relative_to(PROJECT_DIR))


def module_name(path):
    """Dotted module name of a file under the project, packages as their
    __init__ (vpnspot_router/core/__init__.py -> vpnspot_router.core)."""
    parts = list(pathlib.Path(path).relative_to(PROJECT_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)
