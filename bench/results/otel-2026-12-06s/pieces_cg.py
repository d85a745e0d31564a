"""``../otel-2026-12-06g/pieces_cg.py`` (instructions per call of the pieces of the OTel
observer's writer-side work, each in its own warm loop under callgrind) with the caller-side
pieces added: ``run_start`` (``on_run_start`` of a root model call) and ``digest``
(``digest_call`` of a real ``invoke``'s result). Run from the tree to measure; one callgrind
dump per piece.

    N=3000 valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.out \\
        python bench/results/otel-2026-12-06s/pieces_cg.py
    for f in $(ls -v cg.out.*); do grep -h '^desc: Trigger\\|^summary' $f | tr '\\n' ' '; echo; done
"""

import os
import subprocess

import langchain_core.callbacks

here = os.path.dirname(os.path.abspath(__file__))
_run = subprocess.run
_results: list = []


class _Keep(langchain_core.callbacks.BaseCallbackHandler):
    def on_llm_end(self, response, **kwargs):
        _results.append(response)


def _with_caller_pieces(args, *rest, **kwargs):
    # Before the harness piece: the caller's pieces, timed by the same cg() of the script.
    if list(args[:2]) == ["callgrind_control", "-d"] and args[2] == "end_emit":
        out = _run(args, *rest, **kwargs)
        g = _globals
        obs, run0, cg = g["obs"], g["run0"], g["cg"]
        g["model"].invoke(g["PROMPT"], config={"callbacks": [_Keep()]})
        result = _results[-1]
        run1 = g["copy"].copy(run0)

        def start():
            run1.observer_data = {}
            obs.on_run_start(run1)
            obs._pending.pop(run1.run_id, None)

        subprocess.run = _run
        cg("run_start", start)
        cg("digest", lambda: obs.digest_call(run1, result))
        subprocess.run = _with_caller_pieces
        return out
    return _run(args, *rest, **kwargs)


_globals: dict = {}
subprocess.run = _with_caller_pieces
with open(os.path.join(here, "..", "otel-2026-12-06g", "pieces_cg.py")) as f:
    code = f.read()
exec(compile(code, "pieces_cg.py", "exec"), _globals)
