U=postgresql://llm_costs:secret@127.0.0.1:55432/llm_costs; PY=/tmp/fleet_venv/bin/python
export LITELLM_LOCAL_MODEL_COST_MAP=True LLM_COST_HOOKS_SPEND_JOURNAL=/tmp/fleet_run/journal
reset() { su postgres -c "psql -q -h /tmp/fleet_srv -p 55432 -d llm_costs -c 'truncate cost_records, cost_rollup_hour, task_outcomes'" 2>&1 | tail -1; $PY -c "import redis;redis.Redis(port=56379).flushall()"; }
