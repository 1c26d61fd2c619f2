#!/usr/bin/env bash
# `make demo`: run every lesson's server/client pairs once, showing each
# command as you would type it and what it printed.
set -u
cd "$(dirname "$0")/.." || exit 1
status=0
for scenario in scripts/scenarios/*.sh; do
    bash "$scenario" demo || status=1
done
exit "$status"
