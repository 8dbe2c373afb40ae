"""Files the agent restores on start (the report queue of core/telemetry.py,
the bandwidth checkpoint of core/accounting.py) answer damage with
ValueError only, under CPython and MicroPython alike: the file store catches
ValueError, moves the file aside and uses the last good copy, so any other
exception would stop the agent on a damaged flash. The inputs are fuzzer
findings (tests/fuzz/test_regressions.py), minimized."""

from vpnspot_router.core.accounting import Accounting
from vpnspot_router.core.telemetry import ReportQueue

from .pair import raises

CHECKPOINT = ('{"v":1,"saved_at":%s,"total":[1,2],"last":[null,null],"source":null,'
              '"period":[null,0,0],"hours":[%s],"days":[]}')


def _queue():
    return ReportQueue(lambda n: b"\x01" * n)


def test_a_queue_file_that_is_json_but_not_an_object_is_refused_as_damaged():
    for data in (b'""', b"[]", b"7", b"null"):
        assert raises(ValueError, _queue().restore, data)


def test_a_queued_report_whose_body_is_not_text_is_refused_as_damaged():
    data = b'{"v":1,"items":[[1,2,3,4,5]],"next_seq":3,"dropped":0}'
    assert raises(ValueError, _queue().restore, data)


def test_a_queue_file_nested_deeper_than_the_stack_is_refused_as_damaged():
    assert raises(ValueError, _queue().restore, b"[" * 5000)


def test_a_checkpoint_whose_save_time_is_not_a_number_is_refused_as_damaged():
    a = Accounting()
    assert raises(ValueError, a.restore, (CHECKPOINT % ('"x"', "")).encode())
    assert a.last_seen is None          # nothing changed


def test_a_checkpoint_with_an_infinite_bucket_time_is_refused_as_damaged():
    assert raises(ValueError, Accounting().restore, (CHECKPOINT % ("1", "[Infinity,1,1]")).encode())


def test_a_checkpoint_nested_deeper_than_the_stack_is_refused_as_damaged():
    assert raises(ValueError, Accounting().restore, b"[" * 5000)


def test_a_restored_checkpoint_keeps_counting():
    a = Accounting()
    a.restore((CHECKPOINT % ("1700000000", "")).encode())
    a.observe(100, 200, 1700000060, source="wg0")
    assert (a.total_rx, a.total_tx) == (101, 202)
