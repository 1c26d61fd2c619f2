# socket lessons: see README.md. Every target runs from a fresh clone.
SHELL := /bin/bash
LESSON ?=
DEST ?=

.PHONY: all build demo test lint eject soak fuzz bench

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
	cargo fmt --all --check --manifest-path bench/Cargo.toml
	cargo clippy --workspace --all-targets -- -D warnings
	shellcheck -x scripts/*.sh scripts/scenarios/*.sh .ci/run

## make eject LESSON=tcp-echo DEST=/tmp/tcp-echo: a standalone copy.
eject:
	@test -n "$(LESSON)" -a -n "$(DEST)" || { echo "usage: make eject LESSON=tcp-echo DEST=/tmp/tcp-echo" >&2; exit 2; }
	@scripts/eject.sh "$(LESSON)" "$(DEST)"

## make soak: the hostile-peer suite against every lesson server (release
## build), bounded in time; ends with a table of what held.
soak:
	cargo build --release --workspace --bins
	python3 soak/hostile.py target/release

## make fuzz: the decoders' and the line reader's property tests with many more cases than
## `make test` runs (FUZZ_CASES, default 100000), in release mode.
FUZZ_CASES ?= 100000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release -p framing codec::tests
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release -p tcp-threaded connection::tests

## make bench: lesson servers against C, tokio and Python baselines, one
## table of ratios (see bench/README.md). QUICK=1 for a short run.
bench:
	@scripts/bench.sh
