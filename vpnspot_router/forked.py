"""Rare, import-heavy work in a short-lived forked child.

Owns: call() and Remote, which run a function in a child made with
os.fork() and bring its result or exception back through a pipe; and the
small tagged-JSON codec they use for that.

Why: a Python module, once imported, stays in the process for its life.
The always-on agent needs ssl, http.client and the API schema (provider
calls: about 7 MB), pyroute2 (kernel WireGuard changes: about 15-20 MB)
and cryptography (handshake probes when the kernel carries the tunnel:
about 7 MB) for a few seconds an hour. A forked child starts with
everything the agent already holds, imports what the work needs, answers,
and exits; its memory goes with it. The cost is the child's imports, each
time (tens of milliseconds here; more on a router's CPU).

Rules the callers keep:
  - the work must not need the agent's other threads (they do not exist in
    the child), its open files and sockets (the child closes them, but for
    the standard streams and the log's) or change state the agent needs
    (the child's changes are lost); it may log (logging re-creates its
    locks after a fork);
  - results are JSON types, bytes, tuples and namedtuples; exceptions come
    back as the same class when its module is already loaded in the
    parent (never imported for the purpose), else as ChildFailed;
  - a child that dies without answering (killed, out of memory) raises
    `failure(why)` from the caller, ChildFailed by default; so does one
    that has not answered within TIMEOUT seconds (it is killed first).

Forking while other threads run (the data plane, the provider and
exit-check threads) copies whatever locks they hold at that instant. The
child never touches their objects, logging and the import lock are
re-created by CPython after a fork, and the heavy imports it makes (ssl
with the system OpenSSL) are not mapped in the agent at all; the
TIMEOUT is the backstop should any other lock still be caught mid-use.

Without os.fork (not Linux), or with VPNSPOT_NO_FORK=1 (debugging), the
work runs in the calling process.
"""

import base64
import json
import logging
import os
import select
import signal
import sys
import time

log = logging.getLogger("vpnspot.forked")

# Longer than any work done in a child (provider calls time out after tens of
# seconds, handshake probes after a few), short enough that a stuck child
# delays the agent's next try by minutes, not forever.
TIMEOUT = 120.0


class ChildFailed(Exception):
    """The child died without an answer, or raised an error the parent cannot rebuild."""


def call(func, *args, failure=None, timeout=None):
    """func(*args), computed in a forked child; see the module docstring.
    A child that has not answered after `timeout` seconds (TIMEOUT by
    default) is killed and the call raises `failure(why)`."""
    if not hasattr(os, "fork") or os.environ.get("VPNSPOT_NO_FORK") == "1":
        return func(*args)
    r, w = os.pipe()
    try:
        pid = os.fork()
    except OSError as e:
        os.close(r)
        os.close(w)
        log.warning("cannot fork a helper (%s); doing the work in the agent", e)
        return func(*args)
    if pid == 0:                                # the child: never returns
        code = 0
        try:
            os.close(r)
            _close_inherited(keep=(w,))
            try:
                answer = {"ok": _encode(func(*args))}
            except BaseException as e:          # noqa: B902 - everything goes back
                answer = {"error": _encode_error(e)}
            data = json.dumps(answer).encode()
            while data:
                data = data[os.write(w, data):]
        except BaseException:                   # noqa: B902
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    data, finished = _read_until(r, time.monotonic() + (TIMEOUT if timeout is None else timeout))
    if not finished:
        # A child that hangs (e.g. a lock another agent thread held at the
        # fork) costs this one call, never the agent: stopped and reported.
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(pid)
        raise (failure or ChildFailed)("the helper process did not answer within %g s; stopped it"
                                       % (TIMEOUT if timeout is None else timeout))
    status = _reap(pid)
    try:
        answer = json.loads(data.decode())
    except ValueError:
        why = "the helper process ended without an answer (%s)" % status
        raise (failure or ChildFailed)(why)
    if "ok" in answer:
        return _decode(answer["ok"])
    raise _decode_error(answer["error"])


def _read_until(fd, deadline):
    """(everything the child wrote, True) once it closed the pipe, or
    (what came so far, False) at the deadline. Closes fd."""
    chunks = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return b"".join(chunks), False
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
    finally:
        os.close(fd)


def _close_inherited(keep):
    """Close what the child inherited but must not hold: were the agent
    killed meanwhile, a child holding its single-instance lock, its TUN
    device or its control socket would keep the next agent from starting.
    Standard streams and the log handlers' files and sockets stay open."""
    keep = set(keep) | {0, 1, 2}
    for handler in logging.getLogger().handlers:
        for obj in (getattr(handler, "stream", None), getattr(handler, "socket", None)):
            try:
                keep.add(obj.fileno())
            except (AttributeError, OSError, ValueError):
                pass
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _reap(pid):
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "already reaped"
    if os.WIFSIGNALED(status):
        return "killed by signal %d" % os.WTERMSIG(status)
    return "exit status %d" % os.WEXITSTATUS(status)


class Remote(object):
    """remote.NAME(*args) runs factory().NAME(*args) in a forked child.

    For objects whose construction and calls are what costs memory (e.g.
    provider.client.ProviderClient: its transport loads ssl). The factory
    runs in the child on every call, so nothing the object learns survives
    a call; use it only for stateless objects."""

    def __init__(self, factory, failure=None):
        self._factory = factory
        self._failure = failure

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        def method(*args):
            return call(_invoke, self._factory, name, args, failure=self._failure)
        method.__name__ = name
        return method


def _invoke(factory, name, args):
    return getattr(factory(), name)(*args)


# ------------------------------------------------------------ the codec

def _encode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return {"nt": [type(value).__module__, type(value).__qualname__],
                "v": [_encode(v) for v in value]}
    if isinstance(value, tuple):
        return {"t": [_encode(v) for v in value]}
    if isinstance(value, (list, set, frozenset)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {"d": [[_encode(k), _encode(v)] for k, v in value.items()]}
    raise TypeError("cannot send a %s back from a helper process" % type(value).__name__)


def _loaded_class(module, qualname):
    """The class if its module is loaded here, else None (never imports)."""
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "b" in value:
        return base64.b64decode(value["b"])
    if "t" in value:
        return tuple(_decode(v) for v in value["t"])
    if "d" in value:
        return dict((_decode_key(k), _decode(v)) for k, v in value["d"])
    cls = _loaded_class(*value["nt"])
    fields = [_decode(v) for v in value["v"]]
    if cls is None:
        return tuple(fields)
    return cls(*fields)


def _decode_key(k):
    k = _decode(k)
    return tuple(k) if isinstance(k, list) else k


def _encode_error(e):
    state = {}
    for k, v in vars(e).items():
        try:
            state[k] = _encode(v)
        except TypeError:
            pass
    try:
        args = _encode(tuple(e.args))
    except TypeError:
        args = _encode(tuple(str(a) for a in e.args))
    return {"class": [type(e).__module__, type(e).__qualname__], "args": args, "state": state,
            "text": "%s: %s" % (type(e).__name__, e)}


def _decode_error(data):
    cls = _loaded_class(*data["class"])
    if cls is None or not issubclass(cls, BaseException):
        return ChildFailed("in a helper process: %s" % data["text"])
    e = cls.__new__(cls)
    e.args = _decode(data["args"])
    for k, v in data["state"].items():
        setattr(e, k, _decode(v))
    return e
