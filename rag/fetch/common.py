"""What every fetcher's query shares: dates given on the command line, and `--since last` (from the last
successful fetch of the same query, kept in the folder's state, minus a look-back for minutes published late)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from rag.fetch.corpus import FetchState
from rag.fetch.http import FetchError


def query_key(obj: Any) -> str:
    """A stable key for a query's conditions (the state file's keys)."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def parse_day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise FetchError(f"{what} must be a date YYYY-MM-DD (got {value!r})") from None


def resolve_window(since: str, until: str | None, state: FetchState, conditions: dict[str, Any], lookback_days: int,
                   today: date, first_date: str, described: str) -> tuple[date, date, str]:
    """(from, until, a note on how they were chosen) for --since DATE|last and --until DATE (default today).
    `described` names the query in the message when there is no earlier fetch to go on from."""
    end = parse_day(until, "--until") if until else today
    note = ""
    if since == "last":
        last = state.queries.get(query_key(conditions))
        if not last:
            raise FetchError(f"--since last: no earlier successful fetch of this query in {state.path.parent} "
                             f"({described}); give --since YYYY-MM-DD the first time")
        covered = parse_day(last["until"], "the saved end date")
        start = max(covered - timedelta(days=max(0, lookback_days)), parse_day(first_date, "first date"))
        note = (f"since last: the last successful fetch of this query ({last.get('finished_at', '?')}) covered "
                f"meetings up to {covered}; starting {lookback_days} days earlier, at {start}, for minutes published late")
    else:
        start = parse_day(since, "--since")
    if start > end:
        raise FetchError(f"--since {start} is after --until {end}")
    return start, end, note


def remember_success(state: FetchState, conditions: dict[str, Any], since: date, until: date, finished_at: str) -> None:
    """Record a finished fetch of the query for a later --since last (the end date only moves forward)."""
    qkey = query_key(conditions)
    prev = state.queries.get(qkey, {})
    covered = max(until.isoformat(), prev.get("until", ""))
    state.queries[qkey] = {"conditions": conditions, "from": since.isoformat(), "until": covered,
                           "finished_at": finished_at}
