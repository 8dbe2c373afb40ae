"""`vpnspot lab demo household` holds every claim it prints: enrollment
with the reference service, the tunnel's proofs, what the service received,
and the web UI reachable from the host but not from the ISP's side."""

import io

import pytest

from vpnspot_router.lab import household_demo, topology

pytestmark = pytest.mark.interop


def test_the_household_demo_proves_every_claim(lab):
    if topology.missing_tools():
        pytest.fail("missing tools %s" % ", ".join(topology.missing_tools()), pytrace=False)
    out = io.StringIO()
    rc = household_demo.HouseholdDemo(lab, out=out).run()
    text = out.getvalue()
    print(text)
    assert rc == 0, text
    assert "[FAIL]" not in text and text.count("[PASS]") == 20
    assert "saw the tunnel address (client=10.77.0.2)" in text
    assert "packets leaked = 0" in text
    # Enrolled with the reference service, not a hand-written config.
    assert "connected to ams-gw (region europe)" in text
    assert "every request body matched openapi.yaml" in text
    assert "every report carried only the whitelist" in text
    # The web UI: answers through the loopback forward, never from the WAN.
    assert "the web UI answers at https://127.0.0.1:" in text
    assert "when the ISP routes it to the router's WAN: ConnectionRefusedError" in text
    # Its diagnostics measure through the tunnel, not from stubs.
    assert "DNS through the tunnel: 10.77.0.1 answered api.vpnspot.test through the tunnel" \
        in text
    assert "MTU: automatic, 1420: a full-size packet crossed the tunnel" in text
    # The public address seen through the tunnel: the tunnel's, a VPN Spot exit.
    assert 'seen through the tunnel: "10.77.0.2 (a VPN Spot address, checked' in text
