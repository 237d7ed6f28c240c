"""Days as options give them: an ISO date or a clear error that says it is not one."""

from __future__ import annotations

from datetime import date


def iso_day(text: str | None, option: str) -> str | None:
    """text as YYYY-MM-DD (None stays None); anything else is a ValueError naming the option."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a date; write it as YYYY-MM-DD") from None
