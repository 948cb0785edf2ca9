import pytest

from benchmarks.stats import percentile, rss_kib, rss_slopes, slope_per_100k

STATUS = """Name:\tpython
State:\tS (sleeping)
VmPeak:\t  912340 kB
VmRSS:\t  123456 kB
RssAnon:\t   99000 kB
"""


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 301)]  # 1..300, shuffled below
    shuffled = values[150:] + values[:150]
    assert percentile(shuffled, 50) == 150.0
    assert percentile(shuffled, 99) == 297.0
    assert percentile(shuffled, 100) == 300.0
    assert percentile(shuffled, 0) == 1.0


def test_percentile_of_one_value_is_that_value() -> None:
    assert percentile([42.5], 99) == 42.5


def test_percentile_refuses_no_values_and_a_bad_q() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_rss_is_read_from_the_vmrss_line() -> None:
    assert rss_kib(STATUS) == 123456


def test_rss_without_a_vmrss_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no VmRSS"):
        rss_kib("Name:\tkthreadd\nState:\tS\n")


def test_rss_of_this_process_is_positive() -> None:
    from pathlib import Path

    assert rss_kib(Path("/proc/self/status").read_text()) > 1000


def test_slope_is_mib_per_100k_reads_by_least_squares() -> None:
    points = [(0.0, 100.0), (50_000.0, 101.0), (100_000.0, 102.0), (150_000.0, 103.0)]
    assert slope_per_100k(points) == 2.0
    assert slope_per_100k([(0.0, 100.0), (10.0, 100.0)]) == 0.0
    assert slope_per_100k([(5.0, 100.0)]) is None
    assert slope_per_100k([(5.0, 100.0), (5.0, 120.0)]) is None


def test_second_half_slope_leaves_the_warm_up_out() -> None:
    samples = [
        {"reads_taken": 0.0, "seconds": 0.0, "worker": 150.0},
        {"reads_taken": 10_000.0, "seconds": 30.0, "worker": 200.0},  # warm-up
        {"reads_taken": 50_000.0, "seconds": 150.0, "worker": 210.0},
        {"reads_taken": 100_000.0, "seconds": 300.0, "worker": 210.0},
    ]
    slopes = rss_slopes(samples)
    assert slopes["rss_slope_second_half_mib_per_100k_reads"] == {"worker": 0.0}
    whole = slopes["rss_slope_mib_per_100k_reads"]["worker"]
    assert whole is not None and whole > 30
