#!/usr/bin/env bash
# `make eject`: an unknown lesson is refused with the list of lessons, and an
# ejected copy's README links only to files that came along.
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/../lib.sh"
EJECT=$ROOT/scripts/eject.sh

expect_match "an unknown lesson is refused and the lessons are listed" 2 \
    "no lesson named 'tcp-ecko'; the lessons are: .*tcp-echo" \
    "$EJECT" tcp-ecko "$WORK/nowhere"

for lesson in tcp-echo framing udp-realtime; do
    dest=$WORK/$lesson
    if ! "$EJECT" "$lesson" "$dest" >/dev/null 2>"$WORK/eject.err"; then
        fail "$lesson ejects" "$(cat "$WORK/eject.err")"
        continue
    fi
    dead=$(python3 - "$dest/crates/$lesson/README.md" <<'PY'
import os, re, sys
path = sys.argv[1]
here = os.path.dirname(path)
for text, target in re.findall(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", open(path).read()):
    if not re.match(r"[a-z]+:|#", target) and not os.path.exists(os.path.join(here, target.split("#")[0])):
        print(target)
PY
)
    if [ -z "$dead" ]; then
        pass "the ejected $lesson README has no dead links"
    else
        fail "the ejected $lesson README has no dead links" "dead: $dead"
    fi
done
finish
