"""A loopback forward into a lab namespace, so the host's browser can open
the router's web UI: `python -m vpnspot_router.lab.relay LISTEN NETNS TARGET`.

The web UI listens only on the router's LAN address inside the router
namespace, which the host cannot route to. This process binds LISTEN
(always a 127.0.0.0/8 address) in the namespace it starts in, then joins
NETNS's network namespace; every socket it opens after that - the
connections to TARGET - lives there, while the listening socket stays on
the host's loopback. Bytes are copied both ways untouched: TLS runs end to
end between the browser and the web UI, and nothing is logged.

Lab only; never packaged for the router.
"""

import ctypes
import ipaddress
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def parse(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def join_netns(name):
    fd = os.open(os.path.join("/run/netns", name), os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns %s: %s" % (name, os.strerror(err)))
    finally:
        os.close(fd)


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(listener, target):
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection(target, timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print("usage: relay LISTEN_ADDR:PORT NETNS TARGET_ADDR:PORT", file=sys.stderr)
        return 2
    listen, netns, target = parse(argv[0]), argv[1], parse(argv[2])
    if not ipaddress.ip_address(listen[0]).is_loopback:
        # The forward must never open the router's UI to the host's networks.
        print("error: the relay listens on loopback only, not %s" % listen[0], file=sys.stderr)
        return 2
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(listen)
    listener.listen(16)
    join_netns(netns)
    print("relay %s:%d -> %s %s:%d" % (listener.getsockname() + (netns,) + target), flush=True)
    try:
        serve(listener, target)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
