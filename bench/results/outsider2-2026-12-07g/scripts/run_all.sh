#!/bin/bash
# runs every outsider script from an empty directory against the wheel venv
S=/work/wt/outsider2/bench/results/outsider-2026-12-07g/scripts
O=/tmp/o2out; mkdir -p $O
export PATH=/tmp/o2v/bin:/usr/bin:/bin HF_HUB_OFFLINE=1
run() { name=$1; shift; d=/tmp/o2e/$name; rm -rf $d; mkdir -p $d; cd $d; export HOME=$d/home; mkdir -p $HOME
  echo "== $name load $(cut -d' ' -f1-3 /proc/loadavg)" > $O/$name.txt
  timeout 600 "$@" >> $O/$name.txt 2>&1; echo "exit $?" >> $O/$name.txt; }
run s1 bash -c "python $S/s1_quickstart.py && llm-cost report llm_costs.db --by tenant,feature"
for s in s2_semantic s2b_keyed s3_tenant s3b_tenant_edge s4_badstrings s4b_badstrings_jsonl s7_litellm_bad s5_fork s5b_mp s5c_fork_cache s8_uuid_nan s9_bad_usage s10_otel s11_sqlite_memory s12_model_dict s15_litellm_cache_nan; do run $s python $S/$s.py; done
run s16 bash -c "python $S/s16_restart_tenantless.py first && python $S/s16_restart_tenantless.py second"
run s13 python $S/s13_pairs.py $S/near_miss_pairs.tsv
run s13b python $S/s13b_pairs_threshold.py $S/near_miss_pairs.tsv 0.5
run s13b_para python $S/s13b_pairs_threshold.py $S/paraphrases.tsv 0.5
echo ALLDONE > $O/_done
