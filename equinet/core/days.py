"""Days as options give them: an ISO date or a clear error that says it is not one."""

from __future__ import annotations

from datetime import date, timedelta


def iso_day(text: str | None, option: str) -> str | None:
    """text as YYYY-MM-DD (None stays None); anything else is a ValueError naming the option."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise ValueError(f"{option} {text!r} is not a date; write it as YYYY-MM-DD") from None


def _exchange_day(d: date) -> bool | None:
    """Whether the mainland exchanges trade on d: a weekday that is no public holiday (chinese_calendar); None
    where that calendar has no data for the year."""
    import chinese_calendar

    if d.weekday() >= 5:
        return False
    try:
        return not chinese_calendar.is_holiday(d)
    except NotImplementedError:
        return None


def next_trading_days(day: str, n: int, known: list[str]) -> tuple[list[str], bool]:
    """The n trading days after day: the store's own days where it has them, then by the holiday calendar;
    (days, sure) where sure is False when the calendar ran out and weekdays stood in for trading days."""
    later = [d for d in known if d > day][:n]
    current, sure = date.fromisoformat(later[-1] if later else day), True
    while len(later) < n:
        current += timedelta(days=1)
        trades = _exchange_day(current)
        sure = sure and trades is not None
        if trades or (trades is None and current.weekday() < 5):
            later.append(current.isoformat())
    return later, sure


def trading_days_between(first: str, last: date) -> int:
    """Trading days after first up to and including last (weekdays where the holiday calendar has no data)."""
    count, current = 0, date.fromisoformat(first)
    while current < last:
        current += timedelta(days=1)
        trades = _exchange_day(current)
        count += bool(trades or (trades is None and current.weekday() < 5))
    return count
