import pytest

from benchmarks.stats import percentile, rss_kib

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
