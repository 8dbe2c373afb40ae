"""Router network integration: everything that keeps LAN traffic in the tunnel.

  settings.py  the household's settings file and the NetPlan derived from it (pure)
  firewall.py  nftables table `inet vpnspot`: kill switch, DNS, IPv6 block, MSS clamp, NAT
  routing.py   policy routing: LAN -> table vpnspot -> tunnel; the tunnel's UDP stays on the WAN
Builders are pure functions of a NetPlan; adapters (Firewall, Routing) apply
the whole desired state at once and have fakes beside them.
"""
