"""run_pairs.py with DecisionPolicy's settled_min_similarity default set to 0.5 (no similarity
floor on the neighbourhood path; the 0.15 gap stays). Run from a directory holding a copy of
../nearmiss3-2026-12-07f/run_pairs.py, with the same arguments."""

import runpy
import sys

from llm_cost_hooks.cache import _signals as s

s.DecisionPolicy.model_fields["settled_min_similarity"].default = 0.5
s.DecisionPolicy.model_rebuild(force=True)
assert s.DecisionPolicy().settled_min_similarity == 0.5
sys.argv = ["run_pairs.py", *sys.argv[1:]]
runpy.run_path("run_pairs.py", run_name="__main__")
