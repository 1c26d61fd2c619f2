#!/usr/bin/env bash
# `make eject LESSON=tcp-echo DEST=/tmp/x`: copy one lesson out as a
# standalone Cargo workspace that builds and tests on its own: the lesson,
# the `common` crate it depends on (and `test-support`, which its tests use),
# a root manifest, and the lock file so it builds with the same versions.
set -eu
usage() { echo "usage: $0 LESSON DEST   (e.g. $0 tcp-echo /tmp/tcp-echo)" >&2; exit 2; }
[ $# -eq 2 ] || usage
lesson=$1
dest=$2
root=$(cd "$(dirname "$0")/.." && pwd)
lessons() {
    local dir names=""
    for dir in "$root"/crates/*/; do
        dir=$(basename "$dir")
        case $dir in common | test-support) ;; *) names="$names $dir" ;; esac
    done
    echo "${names# }"
}
case $lesson in common | test-support | */* | "") usage ;; esac
if [ ! -f "$root/crates/$lesson/Cargo.toml" ]; then
    echo "no lesson named '$lesson'; the lessons are: $(lessons)" >&2
    exit 2
fi
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
    echo "$dest exists and is not empty; pick a new directory" >&2
    exit 2
fi

mkdir -p "$dest/crates"
for crate in "$lesson" common test-support; do
    # Only what the crate's manifest and sources need; no build output.
    (cd "$root/crates" && tar --exclude=target -cf - "$crate") | (cd "$dest/crates" && tar -xf -)
done
cp "$root/Cargo.lock" "$dest/"
cat >"$dest/Cargo.toml" <<TOML
# $lesson, copied out of socket lessons. Build and test with:
#   cargo test
#   cargo run -p $lesson -- --help
[workspace]
resolver = "2"
members = ["crates/*"]
TOML
printf '/target\n' >"$dest/.gitignore"
# A link in the copied README to a file that did not come along (another
# lesson, the root README) would be a dead link: keep its text, drop the link.
python3 - "$dest/crates/$lesson/README.md" <<'PY'
import os, re, sys
path = sys.argv[1]
if os.path.exists(path):
    here = os.path.dirname(path)
    def keep(match):
        text, target = match.group(1), match.group(2)
        if re.match(r"[a-z]+:|#", target):
            return match.group(0)  # a URL or an anchor: fine anywhere
        exists = os.path.exists(os.path.join(here, target.split("#")[0]))
        return match.group(0) if exists else f"{text} (in socket lessons)"
    text = open(path).read()
    open(path, "w").write(re.sub(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)", keep, text))
PY
echo "ejected $lesson to $dest: cd $dest && cargo test"
