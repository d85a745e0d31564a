#!/bin/bash
# Wall time per reserve+settle, this checkout and a base checkout alternating, 4 rounds.
# usage: ab_wall.sh <this checkout> <base checkout> [past50]
here=$(dirname "$(readlink -f "$0")")
for round in 1 2 3 4; do
  for tree in "$1" "$2"; do
    us=$(cd "$tree" && PYTHONPATH="$tree" /work/main/.venv/bin/python "$here/loop.py" 10000 time $3)
    echo "round $round ${3:-fresh} $(basename "$tree") $us us load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
