#!/usr/bin/env bash
# `make lab-demo`: build the lab (scripts/lab.sh) and show, across its lossy
# link, what loopback hides: UDP retries against real loss and the give-up,
# TCP retransmitting under a byte stream that stays perfect, the MTU,
# broadcast on a subnet, "refused" against silence, and names from a host's
# own hosts file. Each part builds its lab and removes it; needs root.
# The steps are the lab scenario's (scripts/scenarios/lab.sh), in demo mode.
set -u
cd "$(dirname "$0")/.." || exit 1
exec bash scripts/scenarios/lab.sh demo
