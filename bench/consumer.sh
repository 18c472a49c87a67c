#!/usr/bin/env bash
# `make bench-consumer`: the consume-200 case of `make bench` (bench/Bench.java) alone, table on stdout.
# Extra arguments go to the bench too, e.g. bench/consumer.sh --pairs 5.
set -euo pipefail
cd "$(dirname "$0")/.."
exec ./jbang bench/Bench.java consume-200 "$@"
