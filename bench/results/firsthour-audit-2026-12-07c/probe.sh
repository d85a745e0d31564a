# usage: probe.sh "<llm-cost command>"  ; prints exit code and flags tracebacks
L="$LLMCOST"
i=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  out=$(eval "$L $line" 2>&1 </dev/null); rc=$?
  tb=""; echo "$out" | grep -q "Traceback" && tb=" TRACEBACK"
  printf '%s\n  rc=%s%s | %s\n' "$line" "$rc" "$tb" "$(echo "$out" | grep -v '^\s*$' | tail -2 | tr '\n' ' ' | cut -c1-300)"
done
