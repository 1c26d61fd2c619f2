#!/usr/bin/env bash
# `make test`: every crate's tests (cargo test --workspace), then every
# pairing scenario in scripts/scenarios/, then the README transcripts
# (scripts/readme_check.py: its self-test, then every ```console block).
# Ends with one line, `N passed, M failed`, and exits non-zero if anything
# failed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
# Ctrl-C reaches the step running now (which cleans up after itself); stop
# there rather than go on to the next step.
trap 'echo "make test interrupted" >&2; exit 130' INT TERM

passed=0
failed=0
# add_counts FILE: add up every `N passed ... M failed` result line in FILE
# (cargo's `test result:` lines and the scenarios' closing lines).
add_counts() {
    local p f
    while read -r p f; do
        passed=$((passed + p))
        failed=$((failed + f))
    done < <(sed -nE 's/^(.*[^0-9])?([0-9]+) passed[;,] ([0-9]+) failed.*/\2 \3/p' "$1")
}

cargo test --workspace --color never 2>&1 | tee "$LOG"
cargo_rc=${PIPESTATUS[0]}
add_counts "$LOG"
if [ "$cargo_rc" -ne 0 ] && ! grep -q 'test result: FAILED' "$LOG"; then
    echo "cargo test failed before running its tests (exit $cargo_rc)" >&2
    failed=$((failed + 1))
fi

cargo build --workspace --bins --quiet || { echo "0 passed, 1 failed"; exit 1; }
for scenario in scripts/scenarios/*.sh; do
    echo "--- $scenario"
    bash "$scenario" test 2>&1 | tee "$LOG"
    rc=${PIPESTATUS[0]}
    before=$failed
    add_counts "$LOG"
    if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
        echo "$scenario exited $rc without reporting a failure" >&2
        failed=$((failed + 1))
    fi
done

# The README checks print README text in their diffs, so only their last
# line, `N passed, M failed`, is counted. Both need root (unshare --net):
# without it they fail, they do not skip.
for check in "--self-test" ""; do
    echo "--- scripts/readme_check.py $check"
    # shellcheck disable=SC2086 # $check is one word or none
    scripts/readme_check.py $check 2>&1 | tee "$LOG"
    rc=${PIPESTATUS[0]}
    before=$failed
    add_counts <(tail -n 1 "$LOG")
    if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
        echo "scripts/readme_check.py $check exited $rc without reporting a failure" >&2
        failed=$((failed + 1))
    fi
done

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
