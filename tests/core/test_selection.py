"""Server choice and failover order (core/selection.py)."""

from vpnspot_router.core import selection


def servers():
    return [
        {"id": "ams-1", "region": "nl-ams", "load": 10},
        {"id": "ams-2", "region": "nl-ams", "load": 90},
        {"id": "fra-1", "region": "de-fra", "load": 5},
        {"id": "fra-2", "region": "de-fra", "load": 50},
    ]


def raises(fn, *args):
    try:
        fn(*args)
    except selection.SelectionError as e:
        return str(e)
    raise AssertionError("no SelectionError")


def test_fastest_orders_by_median_latency_plus_load():
    lat = {"ams-1": [30, 31, 29], "ams-2": [5, 6, 5], "fra-1": [40, 41, None], "fra-2": [10, 12, 11]}
    # scores: ams-1 30+20=50, ams-2 5+180=185, fra-1 40.5+10=50.5, fra-2 11+100=111
    assert selection.rank(servers(), lat) == ["ams-1", "fra-1", "fra-2", "ams-2"]


def test_a_lightly_loaded_server_further_away_beats_a_full_one_nearby():
    lat = {"ams-1": [25], "ams-2": [5]}
    assert selection.rank(servers()[:2], lat)[0] == "ams-1"


def test_region_preference_puts_the_region_first_but_keeps_the_others_for_failover():
    lat = {"ams-1": [1], "ams-2": [1], "fra-1": [80], "fra-2": [90]}
    order = selection.rank(servers(), lat, region="de-fra")
    assert order[:2] == ["fra-1", "fra-2"]
    assert sorted(order[2:]) == ["ams-1", "ams-2"]


def test_a_pinned_server_comes_first_whatever_its_latency():
    lat = {"ams-1": [1], "ams-2": [500], "fra-1": [1], "fra-2": [1]}
    assert selection.rank(servers(), lat, pinned="ams-2")[0] == "ams-2"


def test_servers_whose_probe_failed_rank_after_unprobed_and_probed_ones():
    lat = {"ams-1": [None, None], "fra-1": [50]}
    order = selection.rank(servers(), lat)
    assert order[0] == "fra-1"
    assert order[-1] == "ams-1"


def test_failed_servers_go_to_the_end_in_their_order():
    lat = {"ams-1": [10], "ams-2": [10], "fra-1": [10], "fra-2": [10]}
    order = selection.rank(servers(), lat, failed={"fra-1": 5.0})
    assert order[-1] == "fra-1"


def test_ties_break_by_server_id():
    same = [{"id": "b", "region": "x", "load": 0}, {"id": "a", "region": "x", "load": 0}]
    assert selection.rank(same, {"a": [10], "b": [10]}) == ["a", "b"]


def test_failover_goes_to_the_next_server_not_marked_failed_and_wraps():
    order = ["a", "b", "c", "d"]
    assert selection.next_server(order, "a") == "b"
    assert selection.next_server(order, "b", {"b": 1, "c": 2}) == "d"
    assert selection.next_server(order, "d", {"d": 1}) == "a"


def test_when_every_other_server_failed_failover_tries_the_next_anyway():
    order = ["a", "b", "c"]
    assert selection.next_server(order, "a", {"a": 1, "b": 2, "c": 3}) == "b"


def test_a_single_server_has_no_failover_target():
    assert selection.next_server(["a"], "a") is None
    assert selection.next_server([], "a") is None


def test_an_empty_or_inconsistent_server_list_is_refused_with_a_reason():
    assert "no servers" in raises(selection.rank, [])
    assert "repeated" in raises(selection.rank, [{"id": "a"}, {"id": "a"}])


def test_probing_is_limited_and_starts_with_the_pinned_and_the_region():
    many = [{"id": "s%02d" % i, "region": "r%d" % (i % 3), "load": i} for i in range(20)]
    picked = selection.candidates_to_probe(many, region="r2", pinned="s03", limit=5)
    assert len(picked) == 5
    assert picked[0] == "s03"
    assert picked[1:5] == ["s02", "s05", "s08", "s11"]


def test_median_ignores_lost_probes():
    assert selection.median([None, 3, 1, None, 2]) == 2
    assert selection.median([1, 2, 3, 4]) == 2.5
    assert selection.median([None]) is None
