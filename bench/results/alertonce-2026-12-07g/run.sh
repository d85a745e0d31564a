#!/bin/sh
# Deliveries at a local webhook receiver: 4 workers, one Redis, one state directory, Redis
# paused (SIGSTOP) at 25 % of the limit, each worker crossing 50 % and 80 % on its own total;
# then Redis resumed, journals replayed, and a fifth worker spending on the shared total.
# The test asserts one POST per threshold; on failure pytest prints the receiver's counts.
# Run from the repository root.
cat /proc/loadavg
python -m pytest "tests/test_budgets_alert_once.py::test_a_threshold_crossed_by_every_worker_during_an_outage_is_sent_once" \
    -q -p no:cacheprovider 2>&1 | grep -E "AssertionError|passed|failed"
