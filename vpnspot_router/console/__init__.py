"""The technician's serial console: the router side (server.py over the
backend.py interface) and the laptop side (client.py, `vpnspot-console`).
The protocol itself is core/console_proto.py."""
