"""Serial lines for the console tests: a console server on a real pty or
behind a loopback TCP port, and port wrappers that misbehave like real
cables (wrong speed, kernel messages, a slow line)."""

import os
import socket
import threading
import time
import tty

from vpnspot_router.console.fakebackend import FakeBackend
from vpnspot_router.console.server import ConsoleSession, serve, write_all

KERNEL_LINE = b"[  812.345678] usb 1-1: new high-speed USB device number 4 using ehci-platform\r\n"


class PtyConsole:
    """The router side on a pty master; the technician's device is the slave
    (`self.path`, a real /dev/pts/N). `writer` replaces how the server's
    output reaches the line (chunked, throttled, interleaved)."""

    def __init__(self, backend=None, json_mode=False, chunk=None, delay=0.0, kernel_every=None):
        self.backend = backend or FakeBackend()
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        # As a USB adapter's tty is once pyserial opens it: no echo of its own.
        tty.setraw(self.slave)
        self.session = ConsoleSession(self.backend, json_mode=json_mode)
        self.chunk = chunk
        self.delay = delay
        self.lock = threading.Lock()
        self.stopped = False
        self.kernel_every = kernel_every
        self.result = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        if kernel_every:
            self.noise = threading.Thread(target=self._kernel, daemon=True)
            self.noise.start()

    def _write(self, data):
        step = self.chunk or len(data) or 1
        for i in range(0, len(data), step):
            with self.lock:
                write_all(self.master, data[i:i + step])
            if self.delay:
                time.sleep(self.delay)

    def _kernel(self):
        while not self.stopped:
            time.sleep(self.kernel_every)
            with self.lock:
                try:
                    write_all(self.master, KERNEL_LINE, timeout=0.5)
                except Exception:
                    return

    def _run(self):
        self.result = serve(self.session, self.master, self.master, tick=0.2,
                            stop=lambda: self.stopped, writer=self._write)

    def close(self):
        self.stopped = True
        self.thread.join(3)
        for fd in (self.slave, self.master):
            try:
                os.close(fd)
            except OSError:
                pass


class TcpConsole:
    """The router's console behind 127.0.0.1 (pyserial socket://). Each TCP
    connection is the cable plugged in; closing it is the cable pulled. The
    session (the router) lives on across connections, as on a real UART."""

    def __init__(self, backend=None, cut_after=None):
        self.backend = backend or FakeBackend()
        self.session = ConsoleSession(self.backend)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.url = "socket://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.cut_after = cut_after      # pull the cable after this many response bytes, once
        self.connections = 0
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.listener.settimeout(0.2)
        while not self.stopped:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            conn.settimeout(0.2)
            with conn:
                while not self.stopped:
                    try:
                        data = conn.recv(4096)
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    out = self.session.feed(data)
                    if self.cut_after is not None and len(out) > self.cut_after:
                        # Mid-response: part goes out, then the cable is gone.
                        conn.sendall(out[:self.cut_after])
                        self.cut_after = None
                        break
                    try:
                        conn.sendall(out)
                    except OSError:
                        break

    def close(self):
        self.stopped = True
        self.listener.close()
        self.thread.join(3)


class MisbehavingPort:
    """Wraps a pyserial port. At a speed other than `true_baud` every byte
    read comes out garbled (what a UART at the wrong speed delivers);
    the first `kernel` reads of some length get a kernel message inserted
    in their middle (mid-line, as printk does)."""

    def __init__(self, port, true_baud=None, kernel=0):
        self.port = port
        self.true_baud = true_baud
        self.kernel = kernel
        self.count = 0

    @property
    def baudrate(self):
        return self.port.baudrate

    def read(self, n):
        data = self.port.read(n)
        if self.true_baud and self.port.baudrate != self.true_baud and data:
            data = bytes([(b * 7 + 0x85) & 0xFF | 0x80 for b in data])
        if self.count < self.kernel and len(data) > 10:
            self.count += 1
            cut = len(data) // 2
            data = data[:cut] + b"\r\n" + KERNEL_LINE + data[cut:]
        return data

    def write(self, data):
        if self.true_baud and self.port.baudrate != self.true_baud:
            # Garbled, but a line end now and then gets through as one.
            data = bytes([b if b == 13 else (b ^ 0xA5) | 0x80 for b in data])
        return self.port.write(data)

    def flush(self):
        self.port.flush()

    def close(self):
        self.port.close()
