"""Import rule: core/ imports only core/ and what MicroPython really has.

Read with `ast`, never imported, so a violation is reported even when it
would only fail at run time on a router. Three rules, each failure naming
file, line and what to do:

1. Imports point one way: relative imports may not climb out of core/, and
   absolute imports of vpnspot_router.* must stay inside vpnspot_router.core.
2. Standard-library modules: only those in MICROPYTHON_MODULES, i.e. present
   both in CPython and in the pinned MicroPython build (socket, ssl, asyncio,
   typing, dataclasses, enum, functools, itertools, contextlib, logging,
   ipaddress, hmac, secrets, random, __future__ ... are not).
3. Attributes: for the modules MicroPython ships in cut-down form, every
   `module.attr`, `from module import attr` and `getattr(module, "attr")`
   must name something in MICROPYTHON_MODULES[module] (hashlib is sha256
   only; struct has no Struct; os has no path). Method names MicroPython's
   builtin types lack (MISSING_METHODS) may not appear at all, nor calls
   like ValueError.__init__(self, ...) (builtin exceptions expose none).

test_the_tables_match_the_real_micropython checks both tables against the
pinned interpreter, so they cannot drift from what it provides.
"""

import ast
import builtins
import json

import pytest

import runner
from portable_files import CORE_PACKAGE, core_files, module_name, rel

# Standard-library modules the core may import. None: any attribute the
# module has in MicroPython; a set: only these attributes (the module is a
# subset of CPython's in MicroPython, so spell out what exists).
MICROPYTHON_MODULES = {
    "array": None,
    "binascii": {"a2b_base64", "b2a_base64", "crc32", "hexlify", "unhexlify"},
    "collections": {"OrderedDict", "deque", "namedtuple"},
    "errno": None,
    "gc": {"collect", "disable", "enable", "isenabled", "mem_alloc", "mem_free", "threshold"},
    "hashlib": {"sha256"},
    "heapq": {"heapify", "heappop", "heappush"},
    "io": {"BytesIO", "StringIO"},
    "json": {"dump", "dumps", "load", "loads"},
    "math": None,
    "os": {"getenv", "listdir", "sep", "stat"},
    "re": {"compile", "match", "search", "sub"},
    "struct": {"calcsize", "pack", "pack_into", "unpack", "unpack_from"},
    "sys": {"argv", "byteorder", "exc_info", "exit", "implementation", "maxsize", "modules",
            "path", "platform", "print_exception", "stderr", "stdin", "stdout", "version",
            "version_info"},
    "time": {"gmtime", "localtime", "mktime", "sleep", "time", "time_ns"},
}

# Methods of builtin types CPython has and this MicroPython lacks, and
# exception attributes it does not set. Rarely reached by tests, so they are
# refused wherever they appear in core/.
MISSING_METHODS = {
    "bit_length": "int has no bit_length(); compare against powers of two or use len(bin(n))",
    "bit_count": "int has no bit_count(); count bits in a loop",
    "removeprefix": "str has no removeprefix(); test startswith() and slice",
    "removesuffix": "str has no removesuffix(); test endswith() and slice",
    "isidentifier": "str has no isidentifier()",
    "isalnum": "str has no isalnum(); use isalpha() or isdigit()",
    "isascii": "str has no isascii()",
    "isdecimal": "str has no isdecimal(); use isdigit()",
    "isnumeric": "str has no isnumeric(); use isdigit()",
    "isprintable": "str has no isprintable()",
    "casefold": "str has no casefold(); use lower()",
    "capitalize": "str has no capitalize()",
    "title": "str has no title()",
    "zfill": "str has no zfill(); use '%0*d' formatting",
    "ljust": "str has no ljust(); use '%-*s' formatting",
    "rjust": "str has no rjust(); use '%*s' formatting",
    "translate": "str has no translate()",
    "maketrans": "str has no maketrans()",
    "tobytes": "memoryview has no tobytes(); use bytes(view)",
    "__cause__": "exceptions have no __cause__",
    "__init_subclass__": "classes have no __init_subclass__ hook",
}

# Builtin exception classes expose no __init__, __str__ or __new__ to call
# directly in MicroPython: `ValueError.__init__(self, text)` raises
# AttributeError there. super().__init__(text) works in both.
BUILTIN_EXCEPTIONS = set(name for name in dir(builtins)
                         if isinstance(getattr(builtins, name), type)
                         and issubclass(getattr(builtins, name), BaseException))
EXCEPTION_DUNDERS = ("__init__", "__str__", "__new__", "__repr__")


def _imports(tree):
    """(node, kind, module, names) for every import anywhere in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, "import", alias.name, [(alias.name, alias.asname)]
        elif isinstance(node, ast.ImportFrom):
            yield node, "from", node.module, [(a.name, a.asname) for a in node.names]


def _resolve_relative(path, node):
    """The absolute package an ImportFrom with level > 0 points into."""
    package = module_name(path).split(".")
    if not str(path).endswith("__init__.py"):
        package = package[:-1]
    climb = node.level - 1
    if climb > len(package):
        return None
    base = package[:len(package) - climb] if climb else package
    return ".".join(base + ([node.module] if node.module else []))


def _inside_core(dotted):
    return dotted == CORE_PACKAGE or dotted.startswith(CORE_PACKAGE + ".")


def violations(path):
    """Every rule violation in one core file, as 'file:line: message' strings."""
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=rel(path))
    where = rel(path)
    found = []
    module_aliases = {}             # local name -> restricted stdlib module

    for node, kind, module, names in _imports(tree):
        line = node.lineno
        if kind == "from" and node.level:
            target = _resolve_relative(path, node)
            if target is None or not _inside_core(target):
                found.append("%s:%d: relative import `%s` climbs out of core/ (to %s); "
                             "core/ may import only core/, adapters import the core instead"
                             % (where, line, "." * node.level + (module or ""), target or "?"))
            continue
        top = module.split(".")[0]
        if top == "vpnspot_router":
            # `from vpnspot_router import core` names the core package itself.
            targets = [module] if kind == "import" else [module + "." + n for n, _ in names]
            for target in targets:
                if not _inside_core(target):
                    found.append("%s:%d: `%s` imports %s from outside core/; core/ may import "
                                 "only core/ (pass what it needs in, e.g. as the provider)"
                                 % (where, line, ast.get_source_segment(source, node), target))
            continue
        if top not in MICROPYTHON_MODULES or module != top:
            found.append("%s:%d: `%s`: MicroPython has no module %s; the core may use only %s "
                         "(randomness, time and crypto come from the provider)"
                         % (where, line, ast.get_source_segment(source, node), module,
                            ", ".join(sorted(MICROPYTHON_MODULES))))
            continue
        allowed = MICROPYTHON_MODULES[top]
        if kind == "import":
            for name, asname in names:
                module_aliases[asname or name] = top
        elif allowed is not None:
            for name, _ in names:
                if name not in allowed:
                    found.append("%s:%d: `from %s import %s`: MicroPython's %s has only %s"
                                 % (where, line, top, name, top, ", ".join(sorted(allowed))))

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in module_aliases:
                top = module_aliases[node.value.id]
                allowed = MICROPYTHON_MODULES[top]
                if allowed is not None and node.attr not in allowed:
                    found.append("%s:%d: `%s.%s`: MicroPython's %s has only %s"
                                 % (where, node.lineno, node.value.id, node.attr, top,
                                    ", ".join(sorted(allowed))))
            if (isinstance(node.value, ast.Name) and node.value.id in BUILTIN_EXCEPTIONS
                    and node.attr in EXCEPTION_DUNDERS):
                found.append("%s:%d: `%s.%s`: MicroPython's builtin exceptions have no %s to "
                             "call; use super().%s(...)" % (where, node.lineno, node.value.id,
                                                            node.attr, node.attr, node.attr))
            if node.attr in MISSING_METHODS:
                found.append("%s:%d: `.%s`: MicroPython %s"
                             % (where, node.lineno, node.attr, MISSING_METHODS[node.attr]))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2
              and isinstance(node.args[0], ast.Name) and node.args[0].id in module_aliases
              and isinstance(node.args[1], ast.Constant)):
            top = module_aliases[node.args[0].id]
            allowed = MICROPYTHON_MODULES[top]
            if (node.func.id == "getattr" and allowed is not None
                    and node.args[1].value not in allowed):
                found.append("%s:%d: getattr(%s, %r): MicroPython's %s has only %s"
                             % (where, node.lineno, node.args[0].id, node.args[1].value, top,
                                ", ".join(sorted(allowed))))
    return found


def test_the_core_has_files_to_check():
    assert len(core_files()) >= 5, \
        "vpnspot_router/core/ looks empty: the rule would pass vacuously"


@pytest.mark.parametrize("path", core_files(), ids=rel)
def test_each_core_module_imports_only_core_and_what_micropython_has(path):
    found = violations(path)
    if found:
        pytest.fail("\n".join(found), pytrace=False)


def test_the_rule_catches_each_kind_of_violation(tmp_path, monkeypatch):
    # The checker itself is tested on a fake core file, so a green run above
    # means "no violations", not "a checker that finds nothing".
    import portable_files
    fake_root = tmp_path
    core = fake_root / "vpnspot_router" / "core" / "wireguard"
    core.mkdir(parents=True)
    bad = core / "bad.py"
    bad.write_text("\n".join([
        "from ... import cli",                          # 1 climbs out
        "from vpnspot_router.crypto import pure",       # 2 outside core
        "import dataclasses",                           # 3 missing module
        "import hashlib",                               # 4 fine
        "x = hashlib.blake2s(b'')",                     # 5 hashlib beyond sha256
        "from struct import Struct",                    # 6 struct has no Struct
        "import os.path",                               # 7 no os.path
        "y = 'a'.removeprefix('a')",                    # 8 missing method
        "from . import drops",                          # 9 fine
        "from ..cryptoapi import KEY_LEN",              # 10 fine
        "z = hashlib.sha256(b'')",                      # 11 fine
        "import typing",                                # 12 missing module
        "class E(ValueError):",                         # 13 fine
        "    def __init__(self, text):",                # 14 fine
        "        ValueError.__init__(self, text)",      # 15 no ValueError.__init__
        "        super().__init__(text)",               # 16 fine
        "",
    ]))
    monkeypatch.setattr(portable_files, "PROJECT_DIR", fake_root)
    lines = sorted(int(v.split(":")[1]) for v in violations(bad))
    assert lines == [1, 2, 3, 5, 6, 7, 8, 12, 15], violations(bad)


def test_the_tables_match_the_real_micropython():
    probe = (
        "import json\n"
        "names = %r\n"
        "out = {}\n"
        "for name in names:\n"
        "    try:\n"
        "        out[name] = sorted(dir(__import__(name)))\n"
        "    except ImportError:\n"
        "        out[name] = None\n"
        "types = {}\n"
        "for t in (str, bytes, bytearray, int, memoryview, list, dict):\n"
        "    types[t.__name__] = sorted(dir(t))\n"
        "dunders = [d for d in %r if hasattr(ValueError, d)]\n"
        "print(json.dumps({'modules': out, 'types': types, 'dunders': dunders}))\n"
    ) % (sorted(MICROPYTHON_MODULES), EXCEPTION_DUNDERS)
    result = runner.run(None, code=probe)
    assert result.exit_code == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    problems = []
    for name, allowed in sorted(MICROPYTHON_MODULES.items()):
        present = seen["modules"][name]
        if present is None:
            problems.append("%s does not import in MicroPython" % name)
        elif allowed is not None:
            for attr in sorted(allowed - set(present)):
                problems.append("%s.%s is allowed but MicroPython lacks it" % (name, attr))
    every_method = set()
    for names in seen["types"].values():
        every_method.update(names)
    for method in sorted(MISSING_METHODS):
        if method in every_method:
            problems.append("%s is listed as missing but MicroPython has it" % method)
    for dunder in seen["dunders"]:
        problems.append("ValueError.%s is refused but MicroPython has it" % dunder)
    assert not problems, "\n".join(problems)
