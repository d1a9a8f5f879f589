"""Phone numbers as logs show them: enough to tell numbers apart, not to dial one."""

from __future__ import annotations


def mask_number(number: str) -> str:
    """``+15551234567`` → ``+1555****567``: enough to tell numbers apart, not to dial one.

    At least four digits are always hidden; short numbers show only their end.
    """
    plus = "+" if number.startswith("+") else ""
    digits = number[len(plus) :]
    tail = 3 if len(digits) >= 7 else 2
    head = max(0, min(4, len(digits) - tail - 4))
    hidden = len(digits) - head - tail
    return plus + digits[:head] + "*" * hidden + digits[len(digits) - tail :]
