# The app of tests/faults/test_fault_pool.py::test_pool_workers_terminated_by_the_with_block_write_their_records.
import multiprocessing
import sys

from llm_cost_hooks import CostTracker, TokenUsage

tracker = CostTracker(ledger="sqlite:///" + sys.argv[1])


def task(i):
    for k in range(20):
        rid = f"t{i}-{k}"
        tracker.start_llm(rid, None, model="gpt-4o-mini", provider="openai")
        tracker.end_llm(rid, TokenUsage(input_tokens=100, output_tokens=10))
    return 20


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(3) as pool:  # __exit__ calls terminate()
        print(sum(pool.map(task, range(30))))
