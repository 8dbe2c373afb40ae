"""Persistent small files (configuration, accounting checkpoints, the report
queue): atomic writes, defensive reads, one writer at a time.

Owns the on-flash life of a file; what the bytes mean is the caller's
`validate` function (usually a core parser). The interface is three calls,
and MemoryStore below is its fake for tests of code that uses a store:

  read(validate)  -> ReadResult(data, source, problems)
  write(data)     -> None; the file is the old or the new version, never a mix
  locked()        -> context manager; hold it around read-modify-write

Writing, in this order (each step survives kill -9 and power loss):
  1. data -> DIR/.NAME.tmp-PID-N, fsync          (the old file is untouched)
  2. rename over NAME, fsync DIR                 (the switch is one rename)
  3. the same two steps for NAME.last-good       (when keep_last_good)
A crash before 2 leaves the old NAME; after 2 the new one. A crash during 3
leaves the previous last-good, which is still a valid version.

Reading: a missing NAME is "nothing saved yet" (source "missing"). An
existing NAME is validated; if it is truncated or corrupt it is moved aside
to NAME.corrupt-YYYYmmddTHHMMSSZ (kept for a technician, never deleted by
us) and NAME.last-good is used and restored as NAME; failing that, the
caller's defaults. Every problem is a line in `problems`, naming the file.

The lock is flock() on NAME.lock (not on NAME, which rename replaces). It is
advisory and not reentrant: take it once per read-modify-write.
"""

import contextlib
import errno
import fcntl
import json
import os
import time

SOURCE_FILE = "file"
SOURCE_LAST_GOOD = "last-good"
SOURCE_MISSING = "missing"


class StoreError(OSError):
    """The store could not do its job (disk full, read-only, lock timeout)."""


class ReadResult:
    def __init__(self, data, source, problems):
        self.data = data            # bytes, or None when source is "missing"
        self.source = source
        self.problems = problems

    def __repr__(self):
        return "ReadResult(%s, %d bytes, %r)" % (self.source, len(self.data or b""), self.problems)


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_status_json(path, data):
    """Replace a status file (RAM-backed, rewritten often) by rename, so a
    reader never sees half of one. No fsync: status is not meant to survive
    power loss; persistent state goes through FileStore."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def pid_alive(pid):
    """True if a process with this pid exists. Accepts what a status file
    holds (int or text); anything that is not a positive pid is not alive
    (os.kill(0, 0) would test our own process group)."""
    try:
        pid = int(pid)
    except (ValueError, TypeError):
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True                 # it exists; it is only not ours
    return True


class FileStore:
    def __init__(self, path, keep_last_good=True, clock=time.time, lock_timeout=10.0):
        self.path = os.path.abspath(path)
        self.dir = os.path.dirname(self.path)
        self.name = os.path.basename(self.path)
        self.last_good = self.path + ".last-good"
        self.lock_path = self.path + ".lock"
        self.keep_last_good = keep_last_good
        self.clock = clock
        self.lock_timeout = lock_timeout
        self._counter = 0

    # -- writing ---------------------------------------------------------

    def _atomic_write(self, target, data):
        self._counter += 1
        tmp = os.path.join(self.dir, ".%s.tmp-%d-%d" % (os.path.basename(target), os.getpid(),
                                                        self._counter))
        _write_new(tmp, data)
        try:
            os.rename(tmp, target)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        _fsync_dir(self.dir)

    def write(self, data):
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("the store writes bytes")
        self._sweep_temps()
        try:
            self._atomic_write(self.path, bytes(data))
            if self.keep_last_good:
                self._atomic_write(self.last_good, bytes(data))
        except OSError as e:
            raise StoreError(e.errno, "cannot write %s: %s" % (self.path, e.strerror or e))

    def _sweep_temps(self):
        """Temp files of writers that died mid-write; a live writer's are left alone."""
        try:
            names = os.listdir(self.dir)
        except OSError:
            return
        for prefix in (".%s.tmp-" % self.name, ".%s.last-good.tmp-" % self.name):
            for n in names:
                if not n.startswith(prefix):
                    continue
                try:
                    pid = int(n[len(prefix):].split("-")[0])
                except ValueError:
                    continue
                if not pid_alive(pid):
                    _unlink_quietly(os.path.join(self.dir, n))

    # -- reading ---------------------------------------------------------

    def _read_raw(self, path):
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _move_aside(self, path):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        target = "%s.corrupt-%s" % (path, stamp)
        n = 1
        while os.path.exists(target):
            n += 1
            target = "%s.corrupt-%s-%d" % (path, stamp, n)
        os.rename(path, target)
        _fsync_dir(self.dir)
        return target

    def read(self, validate=None):
        """The newest valid version. validate(bytes) raises ValueError (e.g. a
        ConfigError naming the line) when the bytes are not usable.

        A missing NAME means "nothing saved" (a household may delete the file
        to go back to defaults), so last-good is consulted only when NAME
        exists and is unusable; it is then also restored as NAME."""
        problems = []
        data = self._read_raw(self.path)
        if data is None:
            return ReadResult(None, SOURCE_MISSING, problems)
        problem = _check(validate, data)
        if problem is None:
            return ReadResult(data, SOURCE_FILE, problems)
        aside = self._move_aside(self.path)
        problems.append("%s is unusable (%s); moved aside to %s" % (self.path, problem, aside))
        if self.keep_last_good:
            good = self._read_raw(self.last_good)
            if good is not None:
                problem = _check(validate, good)
                if problem is None:
                    self._atomic_write(self.path, good)
                    problems.append("restored %s from its last good copy %s" % (self.path, self.last_good))
                    return ReadResult(good, SOURCE_LAST_GOOD, problems)
                aside = self._move_aside(self.last_good)
                problems.append("%s is unusable too (%s); moved aside to %s"
                                % (self.last_good, problem, aside))
        problems.append("no usable copy of %s is left; using the defaults" % self.path)
        return ReadResult(None, SOURCE_MISSING, problems)

    # -- locking ---------------------------------------------------------

    @contextlib.contextmanager
    def locked(self):
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise StoreError(errno.EAGAIN, "%s is held by another writer" % self.lock_path)
                    time.sleep(0.01)
            yield self
        finally:
            os.close(fd)        # closing releases the flock


def _check(validate, data):
    """None if the bytes are usable, else what is wrong with them."""
    if validate is None:
        return None
    try:
        validate(data)
    except ValueError as e:
        return str(e) or type(e).__name__
    return None


def _write_new(tmp, data):
    """DATA into the new file TMP (0600, must not exist), fsynced; TMP is
    removed again when that fails."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)


def create_exclusive(path, data):
    """Write DATA to PATH only if no file is there (a first password, a
    setup code): a complete, fsynced temporary file (.NAME.tmp-PID-X, as
    FileStore names its own) is linked to the name, and link(2) never
    replaces a file, so of two writers exactly one wins and a reader sees
    no file or the whole of it. FileExistsError when PATH exists; the
    temporary file is removed either way."""
    directory = os.path.dirname(path) or "."
    # os.urandom, not secrets: secrets loads hmac and with it _hashlib,
    # which the always-on agent (which imports this module) must not hold.
    tmp = os.path.join(directory, ".%s.tmp-%d-%s" % (os.path.basename(path), os.getpid(),
                                                     os.urandom(4).hex()))
    _write_new(tmp, data)
    try:
        os.link(tmp, path)
    finally:
        _unlink_quietly(tmp)
    _fsync_dir(directory)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


class MemoryStore:
    """The fake: the same three calls on a dict, plus knobs a test needs
    (fail_writes makes the next write raise, as a full disk would)."""

    def __init__(self, data=None, last_good=None):
        self.data = data
        self.last_good = last_good
        self.writes = 0
        self.fail_writes = False
        self.corrupt = []
        self._held = False

    def write(self, data):
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("the store writes bytes")
        if self.fail_writes:
            raise StoreError(errno.ENOSPC, "no space left (MemoryStore.fail_writes)")
        self.data = bytes(data)
        self.last_good = bytes(data)
        self.writes += 1

    def read(self, validate=None):
        problems = []
        if self.data is None:
            return ReadResult(None, SOURCE_MISSING, problems)
        problem = _check(validate, self.data)
        if problem is None:
            return ReadResult(self.data, SOURCE_FILE, problems)
        self.corrupt.append(self.data)
        self.data = None
        problems.append("the file is unusable (%s); moved aside" % problem)
        if self.last_good is not None and _check(validate, self.last_good) is None:
            self.data = self.last_good
            problems.append("restored from its last good copy")
            return ReadResult(self.data, SOURCE_LAST_GOOD, problems)
        problems.append("no usable copy is left; using the defaults")
        return ReadResult(None, SOURCE_MISSING, problems)

    @contextlib.contextmanager
    def locked(self):
        if self._held:
            raise StoreError(errno.EDEADLK, "MemoryStore lock taken twice (it is not reentrant)")
        self._held = True
        try:
            yield self
        finally:
            self._held = False
