"""Allowed IPs: which peer owns an address (whitepaper 3, "cryptokey routing").

On send, the destination picks the peer (longest prefix wins); on receive,
the decrypted packet's source must map back to the peer it came from. One
prefix belongs to one peer: inserting it for another peer moves it, as `wg
set` does.

Lookup keeps, per address family, a table per prefix length and tries the
lengths present from longest to shortest: routers carry a handful of
distinct lengths, so this beats a bit trie in Python and stays simple.
"""

from ..ipaddr import V4, V6, parse_prefix, prefix_mask, format_prefix


class AllowedIPs:
    def __init__(self):
        # family -> {length: {masked_address: peer}}
        self._tables = {V4: {}, V6: {}}
        # family -> [(length, mask)] longest first
        self._lengths = {V4: [], V6: []}

    def _reindex(self, family):
        lengths = sorted(self._tables[family], reverse=True)
        self._lengths[family] = [(n, prefix_mask(family, n)) for n in lengths]

    def insert(self, prefix_text, peer):
        """Add 'addr/len' (or an (addr, len) pair) for `peer`; raises
        ValueError for a bad prefix."""
        if not isinstance(prefix_text, str):
            prefix_text = "%s/%d" % (prefix_text[0], prefix_text[1])
        family, value, length = parse_prefix(prefix_text)
        table = self._tables[family].get(length)
        if table is None:
            table = self._tables[family][length] = {}
            self._reindex(family)
        table[value] = peer

    def remove_peer(self, peer):
        for family in (V4, V6):
            tables = self._tables[family]
            for length in list(tables):
                table = tables[length]
                for value in [v for v, p in table.items() if p is peer]:
                    del table[value]
                if not table:
                    del tables[length]
            self._reindex(family)

    def lookup(self, family, address):
        """The peer owning `address` (an int), or None."""
        tables = self._tables[family]
        for length, mask in self._lengths[family]:
            peer = tables[length].get(address & mask)
            if peer is not None:
                return peer
        return None

    def prefixes_of(self, peer):
        out = []
        for family in (V4, V6):
            for length, table in self._tables[family].items():
                for value, owner in table.items():
                    if owner is peer:
                        out.append(format_prefix(family, value, length))
        return sorted(out)
