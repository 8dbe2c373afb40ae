"""`vpnspot hw probe` and `vpnspot hw choose` as a technician runs them."""

import json

from vpnspot_router import cli

from tests.hw.captures import read


def fixture_root(tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "crypto").write_text(read("mt7981_safexcel_comfast_cf-xr186.txt"))
    (tmp_path / "sys" / "module" / "wireguard").mkdir(parents=True)
    return str(tmp_path)


def test_hw_probe_json_shows_the_engine_and_module(tmp_path, capsys):
    assert cli.main(["hw", "probe", "--root", fixture_root(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [e["family"] for e in out["engines"]] == ["safexcel"]
    assert out["engines"][0]["chacha20_poly1305"] is False
    assert out["wireguard_module"] == "loaded"


def test_hw_probe_text_names_the_engine(tmp_path, capsys):
    assert cli.main(["hw", "probe", "--root", fixture_root(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "safexcel (module crypto_safexcel kernel, priority 300): ChaCha20-Poly1305 no" in out


def test_hw_choose_prints_the_decision_and_reason(tmp_path, capsys):
    cache = str(tmp_path / "cache.json")
    assert cli.main(["hw", "choose", "--root", fixture_root(tmp_path), "--cache", cache,
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["data_plane"] == "kernel"
    assert out["reason"] == ("engine safexcel present, no ChaCha20-Poly1305 support; "
                             "using kernel WireGuard")
    assert "openssl" in out["measurements"] and out["cached"] is False
    assert cli.main(["hw", "choose", "--root", str(tmp_path), "--cache", cache]) == 0
    text = capsys.readouterr().out
    assert "reason:     engine safexcel present" in text and "from the cache" in text


def test_hw_choose_rejects_an_unknown_override_with_exit_2(tmp_path, capsys):
    cache = tmp_path / "cache.json"
    assert cli.main(["hw", "choose", "--override", "quantum", "--cache", str(cache)]) == 2
    assert "crypto override 'quantum' is not one of" in capsys.readouterr().err
    assert not cache.exists()
