"""masking.py: phone numbers as logs show them."""

from __future__ import annotations

import pytest

from messaging.masking import mask_number

pytestmark = pytest.mark.database_agnostic


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+15551234567", "+1555****567"),
        ("15551234567", "1555****567"),
        ("+442079460958", "+4420*****958"),
        ("5551234", "****234"),
        ("55512345", "5****345"),
        ("123456", "****56"),
        ("123", "*23"),
        ("+123456", "+****56"),
    ],
)
def test_mask_number(number, masked):
    assert mask_number(number) == masked
