"""firmware_pkg/isp_kit.py: an ISP's provisioning file -> ImageBuilder overlay."""
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "firmware_pkg"))
import isp_kit  # noqa: E402

from vpnspot_router.core import config  # noqa: E402

PROVISIONING = """config provider 'provider'
	option name 'Example ISP'
	option colour_primary '#003366'
	list lock 'kill_switch'

config vpnspot 'main'
	option api_url 'https://vpn.isp.example/api/v1'
	option ca_file '/etc/vpnspot/isp-ca.pem'
	option partner_id 'example-isp'
	option region 'nl-ams'
"""
PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_the_kit_holds_provisioning_ca_and_the_package_list(tmp_path):
    (tmp_path / "prov").write_text(PROVISIONING)
    (tmp_path / "ca.pem").write_bytes(PEM)
    assert isp_kit.main([str(tmp_path / "prov"), "--out", str(tmp_path / "kit"),
                         "--ca", str(tmp_path / "ca.pem")]) == 0
    files = tmp_path / "kit/files"
    assert (files / "etc/vpnspot/provisioning").read_text() == PROVISIONING
    assert (files / "etc/vpnspot/isp-ca.pem").read_bytes() == PEM
    packages = (tmp_path / "kit/packages.txt").read_text().split()
    assert packages[0] == "vpnspot" and "python3-light" in packages and "kmod-wireguard" in packages


def test_a_ca_file_without_the_ca_is_refused_with_file_and_line(tmp_path, capsys):
    (tmp_path / "prov").write_text(PROVISIONING)
    assert isp_kit.main([str(tmp_path / "prov"), "--out", str(tmp_path / "kit")]) == 2
    assert "prov:8: ca_file:" in capsys.readouterr().err


def test_a_provisioning_mistake_is_reported_before_any_image_is_built(tmp_path, capsys):
    (tmp_path / "prov").write_text(PROVISIONING.replace("'nl-ams'", "'NL AMS'"))
    (tmp_path / "ca.pem").write_bytes(PEM)
    assert isp_kit.main([str(tmp_path / "prov"), "--out", str(tmp_path / "kit"),
                         "--ca", str(tmp_path / "ca.pem")]) == 2
    assert "prov:10: region:" in capsys.readouterr().err
    assert not (tmp_path / "kit/files/etc/vpnspot/provisioning").exists()
