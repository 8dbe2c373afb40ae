"""Tests for the crypto providers (vpnspot_router/crypto/)."""
