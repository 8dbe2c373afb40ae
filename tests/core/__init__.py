"""Tests for the sans-IO core (vpnspot_router/core/).

A package so its module names (core.test_properties, ...) cannot collide
with same-named test modules elsewhere under tests/. Every module except
those that set CPYTHON_ONLY also runs under MicroPython: plain functions,
plain asserts, no fixtures; shared helpers live in pair.py.
"""
