"""The file store adapter (vpnspot_router/store.py) on real files: atomic
writes that survive SIGKILL, corrupt files moved aside, last-good copies,
and one writer at a time."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from vpnspot_router import store
from vpnspot_router.core import config
from vpnspot_router.store import FileStore, MemoryStore, SOURCE_FILE, SOURCE_LAST_GOOD, SOURCE_MISSING

CPYTHON_ONLY = "real files, fsync, flock and subprocesses"

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILL_TRIALS = int(os.environ.get("VPNSPOT_STORE_KILL_TRIALS", "50"))


def versioned(n, size=256 * 1024):
    """Version n of a file whose last line is the sha256 of the rest."""
    body = ("version %d\n" % n).encode() + bytes([n % 251]) * size + b"\n"
    return body + hashlib.sha256(body).hexdigest().encode()


def check_versioned(data):
    body, _, digest = data.rpartition(b"\n")
    if not body or hashlib.sha256(body + b"\n").hexdigest().encode() != digest:
        raise ValueError("checksum mismatch (%d bytes)" % len(data))
    return int(body.split(b"\n", 1)[0].split()[1])


def config_validator(data):
    config.load(data.decode("utf-8"), None, "/etc/config/vpnspot")


def test_a_write_replaces_the_file_and_keeps_a_last_good_copy(tmp_path):
    s = FileStore(tmp_path / "vpnspot")
    s.write(b"one")
    s.write(b"two")
    assert (tmp_path / "vpnspot").read_bytes() == b"two"
    assert (tmp_path / "vpnspot.last-good").read_bytes() == b"two"
    assert sorted(os.listdir(tmp_path)) == ["vpnspot", "vpnspot.last-good"]
    r = s.read()
    assert (r.data, r.source, r.problems) == (b"two", SOURCE_FILE, [])


def test_a_missing_file_means_defaults_even_with_a_last_good_copy(tmp_path):
    s = FileStore(tmp_path / "vpnspot")
    assert s.read().source == SOURCE_MISSING
    s.write(b"x")
    os.unlink(tmp_path / "vpnspot")        # a household resetting to defaults
    r = s.read()
    assert r.source == SOURCE_MISSING and r.data is None and r.problems == []


def test_a_corrupt_file_is_moved_aside_and_the_last_good_copy_restored(tmp_path):
    clock = lambda: 1700000000
    s = FileStore(tmp_path / "vpnspot", clock=clock)
    good = b"config vpnspot 'main'\n\toption region 'de-fra'\n"
    s.write(good)
    (tmp_path / "vpnspot").write_bytes(b"config vpnspot 'main'\n\toption region 'de-f")   # truncated
    r = s.read(config_validator)
    assert r.source == SOURCE_LAST_GOOD and r.data == good
    assert "never closed" in r.problems[0] and "vpnspot.corrupt-20231114T221320Z" in r.problems[0]
    assert (tmp_path / "vpnspot.corrupt-20231114T221320Z").read_bytes().endswith(b"'de-f")
    assert (tmp_path / "vpnspot").read_bytes() == good
    # A second corruption in the same second gets its own name.
    (tmp_path / "vpnspot").write_bytes(b"\xff\xfe")
    assert s.read(config_validator).source == SOURCE_LAST_GOOD
    assert (tmp_path / "vpnspot.corrupt-20231114T221320Z-2").read_bytes() == b"\xff\xfe"


def test_with_both_copies_corrupt_the_caller_gets_defaults_and_both_are_kept(tmp_path):
    s = FileStore(tmp_path / "q", clock=lambda: 0)
    (tmp_path / "q").write_bytes(b"bad")
    (tmp_path / "q.last-good").write_bytes(b"worse")
    r = s.read(check_versioned)
    assert r.source == SOURCE_MISSING and r.data is None
    assert len(r.problems) == 3 and "using the defaults" in r.problems[-1]
    assert sorted(os.listdir(tmp_path)) == ["q.corrupt-19700101T000000Z",
                                            "q.last-good.corrupt-19700101T000000Z"]


def test_a_write_that_fails_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    s = FileStore(tmp_path / "f")
    s.write(b"old")

    def no_space(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "fsync", no_space)
    with pytest.raises(store.StoreError) as e:
        s.write(b"new")
    assert "cannot write" in str(e.value) and str(tmp_path / "f") in str(e.value)
    monkeypatch.undo()
    assert (tmp_path / "f").read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["f", "f.last-good"]


def test_temp_files_of_dead_writers_are_swept_and_a_live_writers_are_not(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / (".f.tmp-%s-1" % dead)).write_bytes(b"half")
    (tmp_path / (".f.last-good.tmp-%s-1" % dead)).write_bytes(b"half")
    live = tmp_path / (".f.tmp-%d-99" % os.getppid())
    live.write_bytes(b"in progress")
    FileStore(tmp_path / "f").write(b"x")
    assert sorted(os.listdir(tmp_path)) == [live.name, "f", "f.last-good"]


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, %(project)r)
    sys.path.insert(0, %(tests)r)
    from test_store import versioned
    from vpnspot_router.store import FileStore
    s = FileStore(%(path)r)
    n = %(start)d
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    while True:
        n += 1
        s.write(versioned(n))
""")


def test_a_writer_killed_at_random_moments_always_leaves_a_whole_version(tmp_path):
    path = str(tmp_path / "counters")
    s = FileStore(path)
    s.write(versioned(0))
    rng = random.Random(5)
    seen = []
    for trial in range(KILL_TRIALS):
        before = check_versioned(open(path, "rb").read())
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER % {"project": PROJECT, "tests": os.path.dirname(__file__),
                                             "path": path, "start": before}],
            stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.03))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        r = FileStore(path).read(check_versioned)
        assert r.source == SOURCE_FILE and r.problems == [], (trial, r.problems)
        after = check_versioned(r.data)
        assert after >= before, (trial, before, after)     # the old version or a newer whole one
        check_versioned(open(path + ".last-good", "rb").read())
        seen.append(after != before)
    # Both outcomes happened, so the kills really landed during writing.
    assert any(seen) and not all(seen) or KILL_TRIALS < 10, seen
    leftovers = [n for n in os.listdir(tmp_path) if ".tmp-" in n or "corrupt" in n]
    FileStore(path).write(versioned(1))
    assert not [n for n in os.listdir(tmp_path) if ".tmp-" in n], leftovers


LOCKED_INCREMENTER = textwrap.dedent("""
    import sys
    sys.path.insert(0, %(project)r)
    from vpnspot_router.store import FileStore
    s = FileStore(%(path)r)
    for _ in range(%(rounds)d):
        with s.locked():
            r = s.read()
            n = int(r.data) if r.data else 0
            s.write(str(n + 1).encode())
""")


def test_two_writers_under_the_lock_lose_no_update(tmp_path):
    path = str(tmp_path / "n")
    script = LOCKED_INCREMENTER % {"project": PROJECT, "path": path, "rounds": 40}
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0
    assert FileStore(path).read().data == b"80"


def test_the_lock_times_out_with_a_clear_error_while_another_holds_it(tmp_path):
    holder = FileStore(tmp_path / "f")
    waiter = FileStore(tmp_path / "f", lock_timeout=0.05)
    with holder.locked():
        with pytest.raises(store.StoreError) as e:
            with waiter.locked():
                pass
        assert "held by another writer" in str(e.value)
    with waiter.locked():
        pass


def test_the_memory_fake_behaves_like_the_file_store():
    m = MemoryStore()
    assert m.read().source == SOURCE_MISSING
    m.write(b"config vpnspot 'main'\n")
    assert m.read(config_validator).source == SOURCE_FILE
    m.data = b"config vpnspot 'main'\n\toption x '"
    r = m.read(config_validator)
    assert r.source == SOURCE_LAST_GOOD and r.data == b"config vpnspot 'main'\n" and len(m.corrupt) == 1
    m.fail_writes = True
    with pytest.raises(store.StoreError):
        m.write(b"x")
    with m.locked():
        with pytest.raises(store.StoreError):
            with m.locked():
                pass
    with pytest.raises(TypeError):
        m.write("text")
