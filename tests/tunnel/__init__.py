"""Tests for the data planes (vpnspot_router/tunnel/) and the `vpnspot` CLI
that starts them. A package so module names cannot collide with tests elsewhere."""
