"""The package's Python tree on its own: every command and every shipped
module works from the files in the .ipk (stripped, and with --no-strip),
nothing shipped needs a module build.py leaves out, and the stripped agent
still passes the core's and the web UI's tests.

Each check runs a fresh `python -S` whose path is the unpacked package's
site-packages first, then this venv's site-packages for the router's
dependencies (cryptography, pyroute2, pyserial; pytest for the test runs).
-S matters: the venv's editable install of vpnspot_router is a .pth hook,
and it would quietly supply any module the package is missing.
"""

import ast
import io
import os
import re
import subprocess
import sys
import sysconfig
import tarfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "firmware_pkg"))
import build  # noqa: E402

EPOCH = 1700000000
SITE = "usr/lib/python3.11/site-packages"
VENV_SITE = sysconfig.get_paths()["purelib"]
COMMANDS = (["--help"], ["agent", "--help"], ["web", "--help"], ["console", "--help"],
            ["status", "--help"], ["tunnel", "up", "--help"], ["enroll", "--help"], ["hw", "--help"])
# A shipped module may name an excluded one only where it says so when it
# is missing (the module, the excluded path, why).
ALLOWED_IMPORTS = (
    ("vpnspot_router/cli.py", "vpnspot_router/lab",
     "`vpnspot lab` is for source checkouts and says so on a router"),
)


def unpack(blob, root):
    """The data tree of an .ipk under root, as opkg would leave it on a router."""
    pos = 8
    while pos < len(blob):
        header = blob[pos:pos + 60]
        size = int(header[48:58])
        if header[:16].strip() == b"data.tar.gz":
            with tarfile.open(fileobj=io.BytesIO(blob[pos + 60:pos + 60 + size]), mode="r:gz") as tar:
                tar.extractall(root, filter="tar")
        pos += 60 + size + (size % 2)
    # The web UI link is absolute (/usr/share/vpnspot/webui) as on the
    # router; here it must resolve inside root.
    link = os.path.join(root, SITE, "webui")
    assert os.readlink(link) == "/usr/share/vpnspot/webui"
    os.remove(link)
    os.symlink(os.path.join(root, "usr/share/vpnspot/webui"), link)
    return os.path.join(root, SITE)


_TREES = {}


def _unpacked(strip, tmp_path_factory):
    if strip not in _TREES:
        out = tmp_path_factory.mktemp("ipk")
        with open(build.build(str(out), epoch=EPOCH, strip=strip), "rb") as f:
            _TREES[strip] = unpack(f.read(), str(out / "root"))
    return _TREES[strip]


@pytest.fixture(scope="module", params=[True, False], ids=["stripped", "no-strip"])
def tree(request, tmp_path_factory):
    return _unpacked(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def stripped(tmp_path_factory):
    return _unpacked(True, tmp_path_factory)


def run_python(site, args, cwd, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([site, VENV_SITE]), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-S"] + args, capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def shipped_modules(site):
    names = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(site, "vpnspot_router")):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".py") and name != "__main__.py":
                rel = os.path.relpath(os.path.join(dirpath, name), site)[:-3]
                names.append(rel.replace(os.sep, ".").replace(".__init__", ""))
    return names + ["bottle"]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a))
def test_every_router_command_runs_from_the_package_tree_alone(tree, argv, tmp_path):
    proc = run_python(tree, [os.path.join(tree, "../../../bin/vpnspot")] + argv, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "usage: vpnspot" in proc.stdout


def test_python_m_vpnspot_router_runs_from_the_package_tree_alone(tree, tmp_path):
    proc = run_python(tree, ["-m", "vpnspot_router", "--help"], str(tmp_path))
    assert proc.returncode == 0, proc.stderr


def test_the_lab_command_on_a_router_says_it_is_for_source_checkouts(tree, tmp_path):
    proc = run_python(tree, [os.path.join(tree, "../../../bin/vpnspot"), "lab", "up"], str(tmp_path))
    assert proc.returncode == 1
    assert "not part of this installation" in proc.stderr and "Traceback" not in proc.stderr


def test_every_shipped_module_imports_from_the_package_tree_alone(tree, tmp_path):
    script = (
        "import importlib, os, sys\n"
        "site = os.path.realpath(sys.argv[1])\n"
        "bad = []\n"
        "for name in sys.argv[2:]:\n"
        "    try:\n"
        "        m = importlib.import_module(name)\n"
        "    except Exception as e:\n"
        "        bad.append('%s: %s: %s' % (name, type(e).__name__, e)); continue\n"
        "    if not os.path.realpath(m.__file__).startswith(site + os.sep):\n"
        "        bad.append('%s: loaded from %s, not the package' % (name, m.__file__))\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n")
    modules = shipped_modules(tree)
    assert "vpnspot_router.web.app" in modules and "vpnspot_router.console.server" in modules
    proc = run_python(tree, ["-c", script, tree] + modules, str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _imports(path, module):
    """Every vpnspot_router module `path` imports, at module level or inside functions."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            yield base
            for alias in node.names:
                yield base + "." + alias.name


def test_no_shipped_module_imports_one_the_package_leaves_out(tree):
    excluded = [rel for rel, _ in build.EXCLUDED]
    found = []
    for module in shipped_modules(tree)[:-1]:
        path = os.path.join(tree, module.replace(".", os.sep))
        path = path + ".py" if os.path.exists(path + ".py") else os.path.join(path, "__init__.py")
        rel_mod = os.path.relpath(path, tree).replace(os.sep, "/")
        for target in _imports(path, module):
            target_path = target.replace(".", "/")
            for ex in excluded:
                stem = ex[:-3] if ex.endswith(".py") else ex
                if target_path == stem or target_path.startswith(stem + "/"):
                    if not any(rel_mod == m and ex == x for m, x, _ in ALLOWED_IMPORTS):
                        found.append("%s imports %s" % (rel_mod, target))
    assert found == []


def test_the_feed_makefile_leaves_out_the_same_paths():
    with open(os.path.join(REPO, "firmware_pkg", "package", "vpnspot", "Makefile")) as f:
        makefile = f.read()
    for rel, why in build.EXCLUDED:
        assert why
        assert "-path %s " % rel in makefile, rel
    pruned = set(re.findall(r"-path (vpnspot_router/\S+)", makefile))
    assert pruned == set(rel for rel, _ in build.EXCLUDED)


def test_the_stripped_tree_has_every_statement_on_its_repository_line(stripped):
    import bottle
    sources = [(os.path.join(stripped, rel), path) for rel, path in build._python_sources()
               if rel.endswith(".py")] + [(os.path.join(stripped, "bottle.py"), bottle.__file__)]
    for shipped, original in sources:
        with open(shipped, encoding="utf-8") as f:
            after = f.read()
        with open(original, encoding="utf-8") as f:
            before = f.read()
        assert after.count("\n") == before.count("\n"), shipped

        def statements(text):
            return [(type(n).__name__, n.lineno, n.end_lineno) for n in ast.walk(ast.parse(text))
                    if isinstance(n, ast.stmt)]
        assert statements(after) == statements(before), shipped


def test_bottle_ships_with_its_copyright_notice_word_for_word(stripped):
    import bottle
    with open(bottle.__file__, encoding="utf-8") as f:
        original = f.read()
    with open(os.path.join(stripped, "bottle.py"), encoding="utf-8") as f:
        shipped = f.read()
    notice = original.split("\nimport sys\n")[0]
    assert "Copyright (c)" in notice and "License: MIT" in notice
    assert shipped.startswith(notice)


def test_a_traceback_from_the_stripped_package_names_the_repository_line(stripped, tmp_path):
    script = ("import traceback\n"
              "from vpnspot_router.core.wgconf import ConfigError, parse\n"
              "try:\n"
              "    parse('[Interface]\\nPrivateKey = not-base64\\n', 'wg0.conf')\n"
              "except ConfigError as e:\n"
              "    frame = traceback.extract_tb(e.__traceback__)[-1]\n"
              "    print(frame.lineno, frame.line)\n")
    proc = run_python(stripped, ["-c", script], str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lineno, line = proc.stdout.split(" ", 1)
    with open(os.path.join(REPO, "vpnspot_router", "core", "wgconf.py"), encoding="utf-8") as f:
        repo_line = f.read().split("\n")[int(lineno) - 1]
    assert "raise" in repo_line
    assert repo_line.split("#")[0].strip() == line.strip()


def run_pytest(site, tests, cwd, ignore=()):
    # --confcutdir: tests/conftest.py imports the lab, which the package
    # leaves out; the chosen tests do not need its fixtures.
    first = os.path.join(REPO, tests[0])
    args = ["-q", "-p", "no:cacheprovider", "-o", "addopts=", "--confcutdir",
            first if os.path.isdir(first) else os.path.dirname(first)]
    args += ["--ignore=" + os.path.join(REPO, t) for t in ignore]
    args += [os.path.join(REPO, t) for t in tests]
    script = ("import os, sys, pytest, vpnspot_router\n"
              "assert vpnspot_router.__file__.startswith(sys.argv[1]), vpnspot_router.__file__\n"
              "sys.exit(pytest.main(sys.argv[2:]))\n")
    return run_python(site, ["-c", script, site] + args, cwd, timeout=600)


@pytest.mark.slow
def test_the_core_tests_pass_against_the_stripped_package(stripped, tmp_path):
    # test_config_docs compares the README with the schema; it reads no
    # packaged code beyond what test_config covers.
    proc = run_pytest(stripped, ["tests/core"], str(tmp_path), ignore=["tests/core/test_config_docs.py"])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\d+ passed", proc.stdout)


@pytest.mark.slow
def test_the_web_ui_tests_pass_against_the_stripped_package(stripped, tmp_path):
    proc = run_pytest(stripped, ["tests/web/test_pages.py", "tests/web/test_security.py"], str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert re.search(r"\d+ passed", proc.stdout)


def test_the_package_tree_reports_the_packages_version(tree, tmp_path):
    # Only the package's own tree on the path, as on a router: no dist-info
    # anywhere (the lookup through importlib.metadata said "0+unknown" there
    # while the .ipk was 0.1.0-1).
    script = ("from vpnspot_router.crypto import select\n"
              "from vpnspot_router.provider import client\n"
              "print(select.agent_version(), client.USER_AGENT)\n")
    env = dict(os.environ, PYTHONPATH=tree, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-S", "-c", script], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    version = build.project_version()
    assert proc.stdout.split() == [version, "vpnspot-router/" + version]
    cli = run_python(tree, [os.path.join(tree, "../../../bin/vpnspot"), "--version"], str(tmp_path))
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.strip() == "vpnspot " + build.project_version()


def test_the_feed_makefile_and_pyproject_take_the_version_from_one_place():
    from vpnspot_router.version import VERSION
    assert build.project_version() == VERSION
    with open(os.path.join(REPO, "firmware_pkg", "package", "vpnspot", "Makefile")) as f:
        makefile = f.read()
    assert re.search(r"^PKG_VERSION:=(\S+)$", makefile, re.M).group(1) == VERSION
    with open(os.path.join(REPO, "pyproject.toml")) as f:
        pyproject = f.read()
    assert 'dynamic = ["version"]' in pyproject
    assert 'version = {attr = "vpnspot_router.version.VERSION"}' in pyproject
