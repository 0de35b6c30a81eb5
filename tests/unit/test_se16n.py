"""SE16N formatting never writes a number other than the one it was given."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.demo.se16n import format_decimal, format_integer


def test_numbers_are_formatted_the_sap_way():
    assert format_decimal(np.array([-12.5, 0.0, 9_999_999_999.999]), 3) == [
        "12,500-",
        "0,000",
        "9999999999,999",
    ]
    assert format_integer(np.array([10.0, 7.0]), 6) == ["000010", "000007"]


@pytest.mark.parametrize("value", [1e16, -1e16, np.inf, np.nan])
def test_a_decimal_int64_cannot_hold_is_refused_not_wrapped(value):
    """1e16 with 3 decimals was written as -9223372036854776,192."""
    with pytest.raises(ValueError, match=r"cannot be written as a number with 3 decimals"):
        format_decimal(np.array([1.0, value]), 3)


@pytest.mark.parametrize("value", [1e19, -1e19, np.nan])
def test_an_integer_int64_cannot_hold_is_refused_not_wrapped(value):
    with pytest.raises(ValueError, match=r"cannot be written as an integer"):
        format_integer(np.array([1.0, value]), None)
