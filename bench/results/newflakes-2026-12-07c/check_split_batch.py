"""Copy into tests/ and run with pytest (it needs the PostgreSQL fixture): the lost-commit
test with a 0.4 s pause in the middle of its writes, as a loaded machine gives. With the
writer's default 0.25 s timer the resent batch holds only part of the records."""

import time
from typing import Any

import pytest
from test_ledger_postgres import _CommitAnswerLost, pg, pg_url, sample_records  # noqa: F401


@pytest.mark.parametrize("interval", [None, 3600])
def test_split(pg_url: str, interval: Any) -> None:  # noqa: F811
    records, outcomes = sample_records(40)
    ledger = _CommitAnswerLost(pg_url, **({} if interval is None else {"flush_interval": interval}))
    try:
        for i, r in enumerate(records):
            ledger.write(r)
            if i == 20:
                time.sleep(0.4)  # the test's thread off the CPU past one timer tick
        for o in outcomes:
            ledger.write_task(o)
        assert ledger.flush(30.0)
        assert ledger.lost == 1 and ledger.stats.write_failures == 1
        assert ledger.stats.duplicates == len(records), ledger.stats
    finally:
        ledger.close()
