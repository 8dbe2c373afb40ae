"""The agent's version, written in this one place.

pyproject.toml takes it from here (setuptools' dynamic version),
firmware_pkg/build.py names the .ipk after it (the feed Makefile's
PKG_VERSION is checked against it), and the agent reports it: the telemetry
identity, the provider API's User-Agent, `vpnspot status`, the console and
the web UI's About page. Read from this module rather than through
importlib.metadata: a router's package installs no dist-info (the lookup
said "0+unknown" there), and the lookup's import costs RAM."""

VERSION = "0.1.0"
