#!/usr/bin/env bash
# A larger run of the kill -9 campaign test: many hosts killed at random moments during turns;
# every session must resume and complete with no lost, duplicated or altered event. Prints the
# figures of each run. Usage: scripts/campaign.sh [SESSIONS] [ROUNDS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
sessions=${1:-8}
rounds=${2:-10}
runs=${3:-3}
cargo build -q -p aside --tests --locked
for run in $(seq "$runs"); do
  ASIDE_CAMPAIGN_SESSIONS=$sessions ASIDE_CAMPAIGN_ROUNDS=$rounds \
    cargo test -q -p aside --test sessions --locked -- --exact a_campaign_of_random_host_kills_loses_nothing --nocapture 2>&1 \
    | grep -E "^campaign figures|panicked|seed [0-9]+:" || { echo "run $run failed"; exit 1; }
done
