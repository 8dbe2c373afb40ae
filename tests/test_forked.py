"""forked.py: work in a short-lived forked child, results and errors back."""

import os
import signal
import sys
from collections import namedtuple

import pytest

from vpnspot_router import forked
from vpnspot_router.provider import client as pc

Pair = namedtuple("Pair", "key value")


def test_a_result_of_json_types_bytes_tuples_and_namedtuples_comes_back_equal():
    value = {"servers": [pc.Server("ams-gw", "europe", "NL", "Amsterdam", "gw.vpnspot.test",
                                   "203.0.113.10:51820", "a" * 44, 10, True, ["10.77.0.1"])],
             ("a", 1): (b"\x00\xffkey", None, True, 1.5), "pair": Pair(b"k", [1, {"x": -2}])}
    back = forked.call(lambda: value)
    assert back == value
    assert type(back["servers"][0]) is pc.Server and type(back["pair"]) is Pair
    assert back["servers"][0]._asdict()["endpoint"] == "203.0.113.10:51820"


def test_the_work_runs_in_another_process_and_its_imports_stay_there():
    assert "xml.dom.minidom" not in sys.modules

    def work():
        import xml.dom.minidom  # noqa: F401
        return os.getpid(), "xml.dom.minidom" in sys.modules
    pid, imported = forked.call(work)
    assert pid != os.getpid() and imported
    assert "xml.dom.minidom" not in sys.modules


def test_an_error_whose_class_is_loaded_comes_back_as_that_class_with_its_fields():
    def work():
        raise pc.RateLimited(detail="HTTP 429", retry_after=30)
    with pytest.raises(pc.RateLimited) as info:
        forked.call(work)
    e = info.value
    assert e.detail == "HTTP 429" and e.retry_after == 30 and e.code == "rate_limited"
    assert e.message == str(e) and "30 seconds" in e.message


def test_an_error_of_a_class_the_parent_has_not_imported_is_child_failed_naming_it():
    def work():
        import xml.dom.minidom
        raise xml.dom.minidom.xml.dom.NotFoundErr("no such node")
    with pytest.raises(forked.ChildFailed, match="NotFoundErr: no such node"):
        forked.call(work)
    assert "xml.dom.minidom" not in sys.modules


def test_a_child_that_dies_without_answering_raises_the_callers_failure():
    def work():
        os.kill(os.getpid(), signal.SIGKILL)
    with pytest.raises(pc.ServiceUnavailable) as info:
        forked.call(work, failure=lambda why: pc.ServiceUnavailable(detail=why))
    assert info.value.detail == "the helper process ended without an answer (killed by signal 9)"
    with pytest.raises(forked.ChildFailed, match="killed by signal 9"):
        forked.call(work)


def test_a_result_that_cannot_be_sent_back_is_an_error_not_a_hang():
    # Built-in errors come back as themselves (builtins is always loaded).
    with pytest.raises(TypeError, match="cannot send a object back from a helper process"):
        forked.call(lambda: object())


def test_a_large_result_arrives_whole():
    blob = os.urandom(3 * 1024 * 1024)      # far beyond a pipe's buffer
    assert forked.call(lambda: blob) == blob


def test_remote_builds_the_object_in_the_child_for_every_call():
    made = []

    class Counter(object):
        def __init__(self):
            made.append(1)
            self.pid = os.getpid()

        def where(self, plus):
            return self.pid + plus - os.getpid(), len(made)
    remote = forked.Remote(Counter)
    assert remote.where(5) == (5, 1)
    assert remote.where(7) == (7, 1)        # made afresh in each child
    assert made == []                       # never in this process
    with pytest.raises(AttributeError):
        remote._private


def test_without_fork_the_work_runs_here(monkeypatch):
    monkeypatch.setenv("VPNSPOT_NO_FORK", "1")
    assert forked.call(os.getpid) == os.getpid()


def test_the_child_holds_none_of_the_parents_files_but_the_standard_streams(tmp_path):
    # A child that outlived a killed agent must not hold its lock file,
    # TUN device or control socket.
    import fcntl
    path = str(tmp_path / "lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        def work():
            return sorted(int(n) for n in os.listdir("/proc/self/fd"))
        open_in_child = forked.call(work)
        assert fd not in open_in_child and {0, 1, 2} <= set(open_in_child)
    finally:
        os.close(fd)


def test_a_child_that_never_answers_is_killed_at_the_timeout_and_the_call_fails():
    pids = []

    def work():
        import time
        time.sleep(60)

    before = set(os.listdir("/proc"))
    with pytest.raises(pc.ServiceUnavailable) as info:
        forked.call(work, failure=lambda why: pc.ServiceUnavailable(detail=why), timeout=0.5)
    assert "did not answer within 0.5 s" in info.value.detail
    # No child is left behind: it was killed and reaped.
    left = [p for p in set(os.listdir("/proc")) - before if p.isdigit()]
    for p in left:
        try:
            with open("/proc/%s/stat" % p) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        pids.append((p, ppid))
    assert not [p for p, ppid in pids if ppid == os.getpid()]


def test_a_slow_child_within_its_timeout_still_answers():
    def work():
        import time
        time.sleep(0.3)
        return "late but fine"
    assert forked.call(work, timeout=5) == "late but fine"
