# socket lessons: see README.md. Every target runs from a fresh clone.
SHELL := /bin/bash
LESSON ?=
DEST ?=

.PHONY: all build demo lab-demo realtime-table test lint eject soak fuzz bench

all: build

build:
	cargo build --workspace --bins

## make demo: run every lesson's server/client pairs once, readably.
demo: build
	@scripts/demo.sh

## make lab-demo: build two hosts joined by a lossy link (scripts/lab.sh,
## network namespaces; needs root) and show what loopback hides.
lab-demo:
	cargo build --bins -p udp-datagrams -p tcp-echo -p resolver-dump -p udp-realtime
	@scripts/lab-demo.sh

## make realtime-table: udp-realtime across the lab at 0%, 5% and 20% loss,
## redundancy 0, 1, 2 and TCP (10 s each, all four at once; needs root):
## the table in crates/udp-realtime/README.md, and the WAVs to listen to.
realtime-table:
	cargo build --bins -p udp-realtime
	@scripts/realtime-table.sh 10 /tmp/udp-realtime-wavs

## make test: cargo test --workspace plus every pairing scenario and every
## README ```console block (scripts/readme_check.py);
## the last line is `N passed, M failed`.
test:
	@scripts/test.sh

## make lint: formatting, clippy with warnings as errors, shellcheck.
lint:
	cargo fmt --all --check
	cargo fmt --all --check --manifest-path bench/Cargo.toml
	cargo fmt --all --check --manifest-path crates/framing/fuzz/Cargo.toml
	cargo fmt --all --check --manifest-path crates/packet-watch/fuzz/Cargo.toml
	cargo fmt --all --check --manifest-path crates/http-basics/fuzz/Cargo.toml
	cargo clippy --workspace --all-targets -- -D warnings
	shellcheck -x scripts/*.sh scripts/scenarios/*.sh .ci/run

## make eject LESSON=tcp-echo DEST=/tmp/tcp-echo: a standalone copy.
eject:
	@test -n "$(LESSON)" -a -n "$(DEST)" || { echo "usage: make eject LESSON=tcp-echo DEST=/tmp/tcp-echo" >&2; exit 2; }
	@scripts/eject.sh "$(LESSON)" "$(DEST)"

## make soak: the hostile-peer suite against every lesson server (release
## build), bounded in time; ends with a table of what held. SOAK_QUICK=1
## is the short form CI runs: a fifth of the rounds, and the rows listed in
## soak/hostile.py's EXPECTED_IN_QUICK (a lesson being reworked) not counted.
SOAK_QUICK ?=
soak:
	cargo build --release --workspace --bins
	python3 soak/hostile.py target/release $(if $(SOAK_QUICK),--quick)

## make fuzz: the property tests of every decoder with many more cases than
## `make test` runs (FUZZ_CASES), then coverage-guided fuzzing of the framing
## decoders, packet-watch's packet decoder, and http-basics' request reader
## and chunked decoder with cargo-fuzz for FUZZ_SECONDS each (installed if
## missing; it needs nightly features, enabled on the stable toolchain with
## RUSTC_BOOTSTRAP=1).
FUZZ_CASES ?= 100000
FUZZ_SECONDS ?= 120
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release -p framing codec::tests
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release -p tcp-threaded lines::tests
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release -p udp-realtime wire::tests
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release -p packet-watch --lib
	PROPTEST_CASES=$(FUZZ_CASES) cargo test --release -p http-basics --lib
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	RUSTC_BOOTSTRAP=1 cargo fuzz run decoders --fuzz-dir crates/framing/fuzz -- -max_total_time=$(FUZZ_SECONDS)
	RUSTC_BOOTSTRAP=1 cargo fuzz run decode --fuzz-dir crates/packet-watch/fuzz -- -max_total_time=$(FUZZ_SECONDS)
	RUSTC_BOOTSTRAP=1 cargo fuzz run http --fuzz-dir crates/http-basics/fuzz -- -max_total_time=$(FUZZ_SECONDS)

## make bench: lesson servers against C, tokio and Python baselines, one
## table of ratios (see bench/README.md). QUICK=1 for a short run.
bench:
	@scripts/bench.sh
