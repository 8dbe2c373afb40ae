"""Settings from real files (vpnspot_router/configstore.py): provisioning
from /etc before /rom, locks enforced on change, a broken household file
replaced by its last good copy, refused changes leave the file alone."""

import os

import pytest

from vpnspot_router import configstore
from vpnspot_router.core.config import LockedError
from vpnspot_router.core.wgconf import ConfigError

CPYTHON_ONLY = "real files"

PROVISIONING = ("config provider 'provider'\n\toption name 'Example ISP'\n\tlist lock 'kill_switch'\n"
                "config vpnspot 'main'\n\toption kill_switch '1'\n\toption region 'nl-ams'\n")


@pytest.fixture
def paths(tmp_path):
    (tmp_path / "etc" / "config").mkdir(parents=True)
    (tmp_path / "rom").mkdir()
    return configstore.Paths(str(tmp_path / "etc" / "config" / "vpnspot"),
                             (str(tmp_path / "etc" / "provisioning"), str(tmp_path / "rom" / "provisioning")))


def test_no_files_give_defaults(paths):
    settings, problems = configstore.load_settings(paths)
    assert settings.region == "fastest" and problems == []


def test_the_rom_provisioning_applies_when_etc_has_none_and_etc_wins_when_present(paths):
    with open(paths.provisioning_paths[1], "w") as f:
        f.write(PROVISIONING)
    assert configstore.load_settings(paths)[0].region == "nl-ams"
    with open(paths.provisioning_paths[0], "w") as f:
        f.write(PROVISIONING.replace("nl-ams", "de-fra"))
    assert configstore.load_settings(paths)[0].region == "de-fra"


def test_a_broken_provisioning_file_is_an_error_naming_it(paths):
    with open(paths.provisioning_paths[1], "w") as f:
        f.write("config provider 'provider'\n\tlist lock 'nope'\n")
    with pytest.raises(ConfigError) as e:
        configstore.load_settings(paths)
    assert e.value.filename == paths.provisioning_paths[1] and e.value.line == 2


def test_a_change_is_written_and_read_back(paths):
    settings, changed = configstore.change_setting(paths, "region", "de-fra")
    assert changed and settings.region == "de-fra"
    assert configstore.load_settings(paths)[0].region == "de-fra"
    assert open(paths.config_path).read() == "config vpnspot 'main'\n\toption region 'de-fra'\n"
    assert configstore.change_setting(paths, "region", "de-fra")[1] is False


def test_a_locked_or_invalid_change_leaves_the_file_as_it_was(paths):
    with open(paths.provisioning_paths[0], "w") as f:
        f.write(PROVISIONING)
    configstore.change_setting(paths, "region", "de-fra")
    before = open(paths.config_path, "rb").read()
    with pytest.raises(LockedError) as e:
        configstore.change_setting(paths, "kill_switch", "0")
    assert "locked by your provider Example ISP" in str(e.value)
    with pytest.raises(ConfigError):
        configstore.change_setting(paths, "mtu", "99")
    with pytest.raises(ConfigError) as e:
        configstore.change_setting(paths, "dns_mode", "custom")      # needs dns_servers first
    assert e.value.field == "dns_mode"
    assert open(paths.config_path, "rb").read() == before


def test_a_household_file_broken_by_hand_falls_back_to_its_last_good_copy(paths):
    configstore.change_setting(paths, "region", "de-fra")
    with open(paths.config_path, "a") as f:
        f.write("\toption mtu 'huge'\n")
    settings, problems = configstore.load_settings(paths)
    assert settings.region == "de-fra" and settings.mtu == "auto"
    assert "mtu" in problems[0] and "moved aside" in problems[0]
    assert any(n.startswith("vpnspot.corrupt-") for n in os.listdir(os.path.dirname(paths.config_path)))
