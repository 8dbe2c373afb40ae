"""The kernel backend's diff logic, against the in-memory FakeKernelNetlink.

What is checked here is what `wg syncconf` promises: the desired state is
reached in one WireGuard message, applying it again sends nothing, and a
change to one peer touches only that peer (the others keep their sessions
and counters). The same properties are checked on a real kernel in
tests/vm/test_kernel_wireguard.py.
"""

import pytest

from vpnspot_router.core.wgconf import parse
from vpnspot_router.tunnel import kernel
from vpnspot_router.tunnel.kernel import DeviceConfig, KernelTunnel, PeerSettings, plan
from vpnspot_router.tunnel.kernel_fake import FakeKernelNetlink

PRIV = bytes(range(1, 33))
A = bytes([0xA0] * 32)
B = bytes([0xB0] * 32)
C = bytes([0xC0] * 32)
PSK = bytes([7] * 32)


def desired(peers=None, port=51820, fwmark=0, private=PRIV):
    if peers is None:
        peers = [PeerSettings(A, None, ("198.51.100.1", 51820), ["10.77.0.1/32"], 25),
                 PeerSettings(B, PSK, ("203.0.113.10", 51820), ["10.77.0.0/24", "fd77:77::/64"], 0)]
    return DeviceConfig(private, port, fwmark, peers)


def tunnel():
    nl = FakeKernelNetlink()
    return nl, KernelTunnel("wgk0", nl)


def test_a_new_device_is_configured_in_one_message_with_every_peer():
    nl, t = tunnel()
    change = t.apply(desired(), addresses=["10.77.0.2/24"], mtu=1420, routes=["10.77.0.0/24"])
    assert len(nl.wg_messages) == 1
    assert change.device_fields == ["private_key", "listen_port"]
    assert sorted((p.public_key, p.action) for p in change.peers) == [(A, "add"), (B, "add")]
    state = t.read()
    assert state.private_key == PRIV and state.listen_port == 51820
    assert state.peers[B].settings.preshared_key == PSK
    assert state.peers[B].settings.allowed_ips == {"10.77.0.0/24", "fd77:77::/64"}
    assert state.peers[A].settings.persistent_keepalive == 25
    assert nl.links["wgk0"]["up"] and nl.links["wgk0"]["addresses"] == {"10.77.0.2/24"}


def test_applying_the_same_desired_state_twice_sends_nothing_the_second_time():
    nl, t = tunnel()
    t.apply(desired(), addresses=["10.77.0.2/24"], routes=["10.77.99.0/24"])
    links_before = repr(nl.links)
    second = t.apply(desired(), addresses=["10.77.0.2/24"], routes=["10.77.99.0/24"])
    assert second.empty
    assert len(nl.wg_messages) == 1
    assert repr(nl.links) == links_before


def test_changing_one_peer_sends_only_that_peer_and_keeps_the_others_session():
    nl, t = tunnel()
    t.apply(desired())
    nl.simulate_traffic("wgk0", A, when=1000.0, rx=500, tx=700)
    nl.simulate_traffic("wgk0", B, when=1001.0, rx=50, tx=70)
    changed = desired()
    changed.peers[B] = changed.peers[B]._replace(persistent_keepalive=15)
    change = t.apply(changed)
    assert [(p.public_key, p.action, p.fields) for p in change.peers] == [
        (B, "update", ("persistent_keepalive",))]
    assert change.device_fields == []
    state = t.read()
    assert (state.peers[A].last_handshake, state.peers[A].rx_bytes, state.peers[A].tx_bytes) == (1000.0, 500, 700)
    assert state.peers[B].settings.persistent_keepalive == 15
    assert state.peers[B].rx_bytes == 50


def test_a_removed_peer_is_removed_and_an_added_peer_added_in_the_same_message():
    nl, t = tunnel()
    t.apply(desired())
    peers = list(desired().peers.values())[:1] + [PeerSettings(C, None, None, ["10.77.0.3/32"])]
    change = t.apply(desired(peers))
    assert len(nl.wg_messages) == 2
    assert sorted((p.public_key, p.action) for p in change.peers) == [(B, "remove"), (C, "add")]
    assert set(t.read().peers) == {A, C}


def test_changed_allowed_ips_replace_the_old_ones_instead_of_adding_to_them():
    nl, t = tunnel()
    t.apply(desired())
    peers = dict(desired().peers)
    peers[B] = peers[B]._replace(allowed_ips=frozenset(["10.77.5.0/24"]))
    change = t.apply(desired(list(peers.values())))
    assert change.peers[0].replace_allowed_ips
    assert t.read().peers[B].settings.allowed_ips == {"10.77.5.0/24"}


def test_removing_a_preshared_key_clears_it():
    nl, t = tunnel()
    t.apply(desired())
    peers = dict(desired().peers)
    peers[B] = peers[B]._replace(preshared_key=None)
    change = t.apply(desired(list(peers.values())))
    assert [p.fields for p in change.peers] == [("preshared_key",)]
    assert t.read().peers[B].settings.preshared_key is None


def test_an_endpoint_learned_from_the_peer_is_kept_when_the_config_names_none():
    nl, t = tunnel()
    peers = [PeerSettings(A, None, None, ["10.77.0.1/32"])]
    t.apply(desired(peers))
    nl.simulate_roaming("wgk0", A, ("198.51.100.7", 40001))
    assert t.apply(desired(peers)).empty
    assert t.read().peers[A].settings.endpoint == ("198.51.100.7", 40001)


def test_a_config_endpoint_that_differs_from_the_kernel_one_is_sent():
    nl, t = tunnel()
    t.apply(desired())
    nl.simulate_roaming("wgk0", A, ("198.51.100.7", 40001))
    change = t.apply(desired())
    assert [(p.public_key, p.fields) for p in change.peers] == [(A, ("endpoint",))]
    assert t.read().peers[A].settings.endpoint == ("198.51.100.1", 51820)


def test_host_bits_and_address_spelling_do_not_count_as_changes():
    nl, t = tunnel()
    t.apply(desired([PeerSettings(A, None, ("fd77:0:0::1", 51820), ["10.77.0.9/24", "fd77:77::5/64"])]))
    again = desired([PeerSettings(A, None, ("fd77::1", 51820), ["10.77.0.0/24", "fd77:77::/64"])])
    assert t.apply(again).empty


def test_a_new_private_key_listen_port_or_fwmark_is_a_device_change_only():
    nl, t = tunnel()
    t.apply(desired())
    change = t.apply(desired(port=51999, fwmark=0x77, private=bytes(range(2, 34))))
    assert change.device_fields == ["private_key", "listen_port", "fwmark"]
    assert change.peers == []


def test_no_listen_port_keeps_the_one_the_kernel_chose():
    nl, t = tunnel()
    t.apply(desired(port=None))
    chosen = t.read().listen_port
    assert chosen
    assert t.apply(desired(port=None)).empty


def test_addresses_and_routes_follow_the_desired_state_without_default_or_connected_routes():
    nl, t = tunnel()
    t.apply(desired(), addresses=["10.77.0.2/24", "fd77:77::2/64"],
            routes=["10.77.0.0/24", "0.0.0.0/0", "10.77.8.0/22", "::/0"])
    assert nl.links["wgk0"]["routes"] == {"10.77.8.0/22"}
    t.apply(desired(), addresses=["10.77.0.3/24"], routes=["10.77.12.0/22"])
    assert nl.links["wgk0"]["addresses"] == {"10.77.0.3/24"}
    assert nl.links["wgk0"]["routes"] == {"10.77.12.0/22"}


def test_plan_never_prints_key_material():
    text = repr(plan(None, desired())) + repr(desired())
    assert "redacted" in repr(desired())
    for secret in (PRIV, PSK):
        assert kernel._b64(secret) not in text


def test_a_kernel_without_wireguard_gives_an_error_that_names_the_module():
    nl = FakeKernelNetlink(wireguard_supported=False)
    with pytest.raises(kernel.KernelError, match="kmod-wireguard"):
        KernelTunnel("wgk0", nl).apply(desired())


def test_desired_state_from_a_wg_quick_config_matches_the_file():
    pub_a = kernel._b64(A)
    text = "\n".join([
        "[Interface]", "PrivateKey = " + kernel._b64(PRIV), "Address = 10.77.0.2/24",
        "ListenPort = 51821", "MTU = 1380", "",
        "[Peer]", "PublicKey = " + pub_a, "PresharedKey = " + kernel._b64(PSK),
        "Endpoint = 198.51.100.1:51820", "AllowedIPs = 10.77.0.0/24, 0.0.0.0/0",
        "PersistentKeepalive = 21", ""])
    device, addresses, mtu, routes = kernel.desired_from_conf(parse(text, "t.conf"))
    assert device.listen_port == 51821 and device.private_key == PRIV
    p = device.peers[A]
    assert p == PeerSettings(A, PSK, ("198.51.100.1", 51820), ["10.77.0.0/24", "0.0.0.0/0"], 21)
    assert addresses == ["10.77.0.2/24"] and mtu == 1380
    assert sorted(routes) == ["0.0.0.0/0", "10.77.0.0/24"]


def test_the_module_counts_as_available_when_it_is_loaded(tmp_path):
    state = kernel.module_available(sys_module=str(tmp_path), modprobe=("false",))
    assert state and "loaded" in state.reason


def test_the_module_is_unavailable_with_modprobe_s_complaint_as_the_reason(tmp_path):
    state = kernel.module_available(
        sys_module=str(tmp_path / "absent"),
        modprobe=("sh", "-c", "echo 'modprobe: FATAL: Module wireguard not found' >&2; exit 1"))
    assert not state
    assert "Module wireguard not found" in state.reason


def test_the_module_is_unavailable_when_modprobe_cannot_run(tmp_path):
    state = kernel.module_available(sys_module=str(tmp_path / "absent"),
                                    modprobe=(str(tmp_path / "no-modprobe"), "wireguard"))
    assert not state and "modprobe cannot run" in state.reason
