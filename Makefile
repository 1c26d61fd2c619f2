# socket lessons: see README.md. Every target runs from a fresh clone.
SHELL := /bin/bash
LESSON ?=
DEST ?=

.PHONY: all build demo test lint eject

all: build

build:
	cargo build --workspace --bins

## make demo: run every lesson's server/client pairs once, readably.
demo: build
	@scripts/demo.sh

## make test: cargo test --workspace plus every pairing scenario;
## the last line is `N passed, M failed`.
test:
	@scripts/test.sh

## make lint: formatting, clippy with warnings as errors, shellcheck.
lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	shellcheck -x scripts/*.sh scripts/scenarios/*.sh .ci/run

## make eject LESSON=tcp-echo DEST=/tmp/tcp-echo: a standalone copy.
eject:
	@test -n "$(LESSON)" -a -n "$(DEST)" || { echo "usage: make eject LESSON=tcp-echo DEST=/tmp/tcp-echo" >&2; exit 2; }
	@scripts/eject.sh "$(LESSON)" "$(DEST)"
