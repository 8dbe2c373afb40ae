"""`vpnspot lab demo household` holds every claim it prints."""

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
    assert "[FAIL]" not in text and text.count("[PASS]") == 9
    assert "saw the tunnel address (client=10.77.0.2)" in text
    assert "packets leaked = 0" in text
