"""The main job's web UI, walked in Chromium exactly as the README tells a
newcomer: run `vpnspot lab demo household` at a terminal, open the printed
address, accept the router's certificate, type the printed setup code and a
new password, and the status page says Protected. The demo enrolled the
router already, so the wizard skips the account step (its one-use code is
spent) and every step it skipped shows as done, with links; the account
step still reaches the reference VPN Spot service (a spent code is refused
by the service, not "no network"), and so does the Servers page.

The browser trusts the printed certificate file and nothing else (its
public key pinned, as tests/web/test_browser.py does)."""

import os
import pty
import re
import signal
import subprocess
import sys

import pytest

from tests.interop.test_demo import read_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "our home's router 2026"


@pytest.fixture
def demo():
    """`vpnspot lab demo household` at a terminal, up until Ctrl-C; yields its
    printed text once it says the lab stays up."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "vpnspot_router", "lab", "demo", "household"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    os.close(slave)
    out = [""]
    try:
        read_until(proc, out, "press Ctrl-C", timeout=300)
        yield out[0]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)       # Ctrl-C, as the household would
        rest = proc.communicate(timeout=60)[0].decode(errors="replace")
        os.close(master)
        print(out[0] + rest)


def test_a_newcomer_walks_the_demo_web_ui_from_the_printed_address_to_protected(demo, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="needs the Python package playwright (test extra)")
    if not os.path.exists(CHROMIUM):
        pytest.fail("needs Debian's chromium at /usr/bin/chromium (vpnspot_router/lab/setup.sh)",
                    pytrace=False)
    from tests.web.test_browser import spki_pin
    text = demo
    assert "[FAIL]" not in text, text
    # What the newcomer reads on the terminal.
    url = re.search(r"Household web UI: (https://127\.0\.0\.1:\d+/)", text).group(1)
    cert = re.search(r"\(file (/\S+\.pem)\)", text).group(1)
    code = re.search(r"[Ss]etup code:? ([A-Z0-9]{5}-[A-Z0-9]{5})", text)
    assert code, "the demo prints no setup code next to the web UI's address:\n" + text
    shots = str(tmp_path)

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS + [
                                         "--ignore-certificate-errors-spki-list=" + spki_pin(cert)])
        try:
            page = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
            page.set_default_timeout(30000)
            page.goto(url)
            page.wait_for_url("**/setup/password")
            page.fill("#setup_code", code.group(1))
            page.fill("#password", PASSWORD)
            page.fill("#repeat", PASSWORD)
            page.click("main button[type=submit]")
            # Enrolled, region and kill switch chosen by the demo: straight
            # to the status page, not to "Step 2 of 4".
            page.wait_for_url("**/status")
            page.screenshot(path=os.path.join(shots, "demo-status.png"), full_page=True)
            assert page.inner_text("#state") == "Protected"
            assert page.get_attribute("#state-box", "class") == "state state-protected"
            assert page.inner_text("#state-text") == \
                "Protected: all traffic of your home goes through the VPN Spot tunnel."
            assert page.inner_text("[data-field=server]") == "ams-gw (Amsterdam, NL)"
            assert page.inner_text("[data-field=kill_switch]") == "on"
            assert page.inner_text("[data-field=public_ip]").startswith(
                "10.77.0.2 (a VPN Spot address")

            # The account step the wizard skipped: done, with its links, and
            # it reaches the reference service.
            page.goto(url + "setup/account")
            assert "Step 2 of 4: done" in page.inner_text("main")
            assert "already signed in as h***@example.net" in page.inner_text("#account-done")
            for key in ("password", "account", "region", "protection"):
                assert page.get_attribute("#step-" + key, "class") == "done", key
            assert page.get_attribute("#step-region a", "href") == "/setup/region"
            assert "done: europe" in page.inner_text("#step-region")
            assert page.get_attribute("#step-protection a", "href") == "/setup/protection"
            page.fill("#email", "household@example.net")
            page.fill("#code", "VPNS-7Q4K-M2XD")             # the demo's, spent
            page.click("main form[action='/setup/account'] button[type=submit]")
            error = page.inner_text("#account-error")
            assert "already used" in error and "no network" not in error, error
            page.screenshot(path=os.path.join(shots, "demo-account-done.png"), full_page=True)
            # Every later step by its link, and on to the status page.
            page.click("#step-region a")
            page.wait_for_url("**/setup/region")
            assert page.is_checked("input[name=region][value=europe]")
            page.click("#skip")
            page.wait_for_url("**/status")
            page.goto(url + "setup/protection")
            assert page.is_checked("#kill_switch")
            page.click("#skip")
            page.wait_for_url("**/status")
            assert page.inner_text("#state") == "Protected"
            # The Servers page lists the reference service's servers.
            page.goto(url + "servers")
            listed = page.inner_text("form[action='/servers']")
            assert "ams-gw " in listed and "ams-gw2" in listed, listed
        finally:
            browser.close()
