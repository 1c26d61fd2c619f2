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
case $lesson in common | test-support | */* | "") usage ;; esac
[ -f "$root/crates/$lesson/Cargo.toml" ] || { echo "no lesson named $lesson under crates/" >&2; exit 2; }
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
echo "ejected $lesson to $dest: cd $dest && cargo test"
