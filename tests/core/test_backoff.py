"""core/backoff.py: the retry schedule, with the random fraction given."""

from vpnspot_router.core import backoff


def test_the_ceiling_doubles_with_each_attempt_until_the_cap():
    got = [backoff.ceiling(n, 0.5, 30) for n in range(10)]
    assert got == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30, 30, 30, 30]


def test_a_huge_attempt_number_does_not_overflow_or_loop_long():
    assert backoff.ceiling(10 ** 6, 1, 60) == 60


def test_full_jitter_spans_zero_to_the_ceiling():
    assert backoff.full_jitter(3, 0.5, 30, 0.0) == 0.0
    assert backoff.full_jitter(3, 0.5, 30, 0.5) == 2.0
    assert 3.99 < backoff.full_jitter(3, 0.5, 30, 0.999) < 4.0


def test_a_fraction_outside_zero_to_one_is_a_caller_bug():
    for bad in (-0.1, 1.0, 2):
        try:
            backoff.full_jitter(0, 1, 10, bad)
        except ValueError:
            continue
        raise AssertionError("fraction %r accepted" % (bad,))


def test_retry_after_is_a_floor_and_jitter_goes_on_top():
    assert backoff.retry_delay(0, 1, 60, 0.5, retry_after=10) == 10.5
    assert backoff.retry_delay(0, 1, 60, 0.0, retry_after=10) == 10


def test_a_retry_after_beyond_the_cap_means_give_up():
    assert backoff.retry_delay(0, 1, 60, 0.5, retry_after=3600) is None


def test_without_retry_after_the_delay_is_plain_full_jitter():
    assert backoff.retry_delay(2, 1, 60, 0.25) == 1.0
