#!/usr/bin/env bash
# The lab: two hosts and a real, lossy link, built from Linux network
# namespaces. Loopback never loses, never fragments and keeps every
# broadcast local; this link does what a real one does, so the lessons can
# show retries, retransmission, the MTU and broadcast for real.
#
#   scripts/lab.sh up     [--name P] [--loss PCT] [--mtu N]
#   scripts/lab.sh impair [--name P] [--loss PCT] [--mtu N]
#   scripts/lab.sh run client|server [--name P] CMD...
#   scripts/lab.sh down   [--name P]
#
#       P-client                                   P-server
#   +----------------+                        +----------------+
#   | lo 127.0.0.1   |        veth pair       | lo 127.0.0.1   |
#   | P-c            |------------------------| P-s            |
#   | 198.51.100.1   |   MTU N, PCT% loss     | 198.51.100.2   |
#   | 2001:db8::1    |   on arrival at each   | 2001:db8::2    |
#   | client.lab     |   end                  | server.lab     |
#   +----------------+                        +----------------+
#
# P is the lab's name (1 to 6 lowercase letters or digits, default `sl`),
# so several labs can live side by side. The hosts are named in each
# namespace's own hosts file: client.lab, server.lab (IPv4) and
# client6.lab, server6.lab (IPv6). Nothing is routed between this machine
# and the lab, and the lab has no route out: no packet leaves it.
#
# Needs root, `ip` (iproute2), `nft` (nftables) and `ethtool`. Every step
# below is a command you can type yourself; the comment says why.
#
# Example, in two terminals:
#   sudo scripts/lab.sh up --loss 30
#   sudo scripts/lab.sh run server target/debug/udp-datagrams server --host server.lab
#   sudo scripts/lab.sh run client target/debug/udp-datagrams client --host server.lab
#   sudo scripts/lab.sh down
set -Eeuo pipefail

usage() {
    cat <<'EOF'
usage: lab.sh up     [--name P] [--loss PCT] [--mtu N]   build the lab (rebuilds an existing one)
       lab.sh impair [--name P] [--loss PCT] [--mtu N]   change a running lab in place
       lab.sh run client|server [--name P] CMD...        run CMD on one of the two hosts
       lab.sh down   [--name P]                          remove the lab (fine if there is none)

  --name P     the lab's name: 1 to 6 lowercase letters or digits (default: sl);
               namespaces P-client and P-server, veth ends P-c and P-s
  --loss PCT   drop PCT% (0 to 100, default 0) of the packets arriving at each host
  --mtu N      the link's MTU, 1280 (IPv6's minimum) to 65535 (default 1500)
EOF
}

# die_usage MESSAGE: a usage error (exit 2, as for every tool here).
die_usage() {
    echo "lab.sh: $1" >&2
    echo "run \`scripts/lab.sh --help\` for the usage" >&2
    exit 2
}

# die MESSAGE: a runtime failure (exit 1).
die() {
    echo "lab.sh: $1" >&2
    exit 1
}

# The addresses come from the ranges reserved for documentation (RFC 5737
# for IPv4, RFC 3849 for IPv6): they are never anyone's real address, so
# nothing in the lab can be mistaken for, or leak to, a real host.
CLIENT_V4=198.51.100.1
SERVER_V4=198.51.100.2
CLIENT_V6=2001:db8::1
SERVER_V6=2001:db8::2

# --- the command line ------------------------------------------------------

[ $# -gt 0 ] || { usage >&2; exit 2; }
case $1 in
    -h | --help) usage; exit 0 ;;
    up | impair | run | down) command=$1 ;;
    *) die_usage "unknown command '$1' (up, impair, run or down)" ;;
esac
shift

role=""
if [ "$command" = run ]; then
    case ${1:-} in
        client | server) role=$1; shift ;;
        *) die_usage "run needs a host: client or server" ;;
    esac
fi

name=sl
loss=""
mtu=""
while [ $# -gt 0 ]; do
    case $1 in
        --name) [ $# -ge 2 ] || die_usage "--name needs a value"; name=$2; shift 2 ;;
        --name=*) name=${1#--name=}; shift ;;
        --loss | --mtu)
            [ "$command" = up ] || [ "$command" = impair ] || die_usage "$1 is for up and impair"
            [ $# -ge 2 ] || die_usage "$1 needs a value"
            if [ "$1" = --loss ]; then loss=$2; else mtu=$2; fi
            shift 2
            ;;
        --loss=* | --mtu=*)
            [ "$command" = up ] || [ "$command" = impair ] || die_usage "${1%%=*} is for up and impair"
            if [[ $1 == --loss=* ]]; then loss=${1#--loss=}; else mtu=${1#--mtu=}; fi
            shift
            ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        *)
            # For `run`, the first word that is not ours starts the command.
            [ "$command" = run ] && break
            die_usage "unknown argument '$1'"
            ;;
    esac
done

# The name becomes part of interface names (`P-c`; the kernel allows 15
# bytes), of namespace names and of paths under /run/netns and /etc/netns:
# a few plain letters and digits are safe in all of them.
[[ $name =~ ^[a-z0-9]{1,6}$ ]] ||
    die_usage "bad lab name '$name': use 1 to 6 lowercase letters or digits"
if [ -n "$loss" ]; then
    if ! [[ $loss =~ ^[0-9]{1,3}$ ]] || [ "$((10#$loss))" -gt 100 ]; then
        die_usage "bad --loss '$loss': a whole percentage from 0 to 100"
    fi
    loss=$((10#$loss))
fi
if [ -n "$mtu" ]; then
    # Below 1280 the kernel takes IPv6 off the link (IPv6 needs 1280).
    if ! [[ $mtu =~ ^[0-9]{1,5}$ ]] || [ "$((10#$mtu))" -lt 1280 ] || [ "$((10#$mtu))" -gt 65535 ]; then
        die_usage "bad --mtu '$mtu': from 1280 (IPv6's minimum) to 65535"
    fi
    mtu=$((10#$mtu))
fi
if [ "$command" = run ] && [ $# -eq 0 ]; then
    die_usage "run $role needs a command to run"
fi

CLIENT_NS=$name-client
SERVER_NS=$name-server
CLIENT_DEV=$name-c
SERVER_DEV=$name-s

# --- before touching anything: are we able to? -------------------------------

# Namespaces, interfaces and firewall rules are the machine's own
# configuration: only root may change them.
[ "${EUID:-$(id -u)}" -eq 0 ] ||
    die "the lab needs root (network namespaces and nftables); run it with sudo"
for tool in ip nft ethtool; do
    command -v "$tool" >/dev/null 2>&1 || {
        case $tool in
            ip) package=iproute2 ;;
            nft) package=nftables ;;
            *) package=ethtool ;;
        esac
        die "\`$tool\` is missing; install it (Debian: apt-get install $package)"
    }
done

# --- the steps -----------------------------------------------------------

ns_exists() {
    # `ip netns add NS` keeps a namespace alive by bind-mounting it on
    # /run/netns/NS; that file is how we, and `ip netns list`, find it.
    [ -e "/run/netns/$1" ]
}

lab_exists() {
    ns_exists "$CLIENT_NS" || ns_exists "$SERVER_NS"
}

# set_loss NS DEV PCT: drop PCT% of the packets that arrive in NS over
# DEV, at random. One nftables table per namespace, with one chain on the
# input hook (packets addressed to this host); `numgen random mod 100`
# draws a number from 0 to 99 for each packet, and the packet is dropped
# when it is below PCT (at 100, every packet is). It hits TCP and UDP
# alike, as a real bad link does; a round trip crosses two such hops, so
# at 30% loss a request and its reply both arrive with probability
# 0.7 x 0.7 = 0.49. Only the link is lossy (`iifname`): a host talking to
# itself over its own lo is not. `counter` counts what was dropped:
# `ip netns exec NS nft list table inet lab` shows it. The whole chain is
# replaced in one nft transaction, so a change never leaves a moment
# without the rule or with two, and a failed change leaves the old one.
set_loss() {
    local ns=$1 dev=$2 pct=$3 rule=""
    if [ "$pct" -eq 100 ]; then
        rule="add rule inet lab input iifname \"$dev\" counter drop comment \"loss 100%\""
    elif [ "$pct" -gt 0 ]; then
        rule="add rule inet lab input iifname \"$dev\" numgen random mod 100 < $pct counter drop comment \"loss $pct%\""
    fi
    ip netns exec "$ns" nft -f - <<EOF
table inet lab {
    chain input {
        type filter hook input priority filter; policy accept;
    }
}
flush chain inet lab input
$rule
EOF
}

# current_loss NS: the percentage of NS's drop rule (0 without one).
current_loss() {
    local pct
    pct=$(ip netns exec "$1" nft list chain inet lab input 2>/dev/null |
        sed -nE 's/.*comment "loss ([0-9]+)%".*/\1/p') || true
    pct=${pct%%$'\n'*}
    echo "${pct:-0}"
}

# current_mtu NS DEV: the MTU the kernel has for DEV in NS.
current_mtu() {
    ip -n "$1" link show "$2" | sed -nE 's/.* mtu ([0-9]+) .*/\1/p'
}

# add_host NS DEV V4 V6: bring up lo and DEV in NS and give DEV its addresses.
add_host() {
    local ns=$1 dev=$2 v4=$3 v6=$4
    # Every namespace starts with its own loopback, down: a host without
    # lo cannot even talk to itself (127.0.0.1).
    ip -n "$ns" link set lo up
    # /24: the whole of 198.51.100.0 is one subnet, on this one link, so
    # the kernel adds a route for it (and no other route: no way out).
    # `brd +` sets the subnet's broadcast address, 198.51.100.255.
    ip -n "$ns" addr add "$v4/24" brd + dev "$dev"
    # IPv6 first checks that nobody else on the link has the address
    # (duplicate address detection) and keeps it unusable for a second or
    # two; `nodad` skips the check: we built the link, we know.
    ip -n "$ns" addr add "$v6/64" dev "$dev" nodad
    # The link's MTU, on each end: a packet bigger than this cannot cross.
    ip -n "$ns" link set "$dev" mtu "${mtu:-1500}"
    # Switch off segmentation and receive offloads. With them on, TCP
    # hands the "device" 64 KB super-packets that are cut (or glued) in
    # software, so a capture shows packets no real wire could carry and a
    # lost "packet" is many segments at once. Off, every packet on the link
    # is at most one MTU and a retransmission is one real segment.
    ip netns exec "$ns" ethtool -K "$dev" gso off tso off gro off
    ip -n "$ns" link set "$dev" up
}

# write_hosts NS: the namespace's own /etc/hosts. `ip netns exec NS CMD`
# bind-mounts every file in /etc/netns/NS/ over the same name in /etc for
# CMD, so there getaddrinfo reads this file instead of the machine's.
write_hosts() {
    mkdir -p "/etc/netns/$1"
    cat >"/etc/netns/$1/hosts" <<EOF
# /etc/hosts of $1, written by scripts/lab.sh (lab $name)
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
$CLIENT_V4	client.lab
$SERVER_V4	server.lab
$CLIENT_V6	client6.lab
$SERVER_V6	server6.lab
EOF
}

lab_down() {
    local ns pids
    for ns in "$CLIENT_NS" "$SERVER_NS"; do
        if ns_exists "$ns"; then
            # A process inside keeps its namespace, and its end of the veth
            # pair, alive after `ip netns del`, unreachable: say so.
            pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
            [ -z "$pids" ] ||
                echo "lab.sh: warning: processes still run in $ns (PIDs ${pids% }); stop them, the namespace lives on until they exit" >&2
            # Deleting the namespace deletes its interfaces; a veth end
            # never outlives its pair, so the link goes with the first one.
            ip netns del "$ns"
        fi
        rm -rf "/etc/netns/$ns"
    done
}

lab_up() {
    # Rebuild from nothing: what is there may be half a lab.
    lab_down
    # From here on, a failure removes whatever was made.
    trap 'trap - ERR; echo "lab.sh: building lab $name failed; removing what was made" >&2; lab_down; exit 1' ERR
    # Two hosts: each namespace has its own interfaces, addresses, routes,
    # firewall and sockets, as a separate machine would.
    ip netns add "$CLIENT_NS"
    ip netns add "$SERVER_NS"
    # The cable: a veth pair is two interfaces where what one sends, the
    # other receives. Each end is created straight in its namespace, so
    # it never appears in this machine's own namespace.
    ip link add "$CLIENT_DEV" netns "$CLIENT_NS" type veth peer name "$SERVER_DEV" netns "$SERVER_NS"
    add_host "$CLIENT_NS" "$CLIENT_DEV" "$CLIENT_V4" "$CLIENT_V6"
    add_host "$SERVER_NS" "$SERVER_DEV" "$SERVER_V4" "$SERVER_V6"
    set_loss "$CLIENT_NS" "$CLIENT_DEV" "${loss:-0}"
    set_loss "$SERVER_NS" "$SERVER_DEV" "${loss:-0}"
    write_hosts "$CLIENT_NS"
    write_hosts "$SERVER_NS"
    trap - ERR
}

lab_impair() {
    lab_exists || die "there is no lab named '$name'; build it with \`scripts/lab.sh up --name $name\`"
    # Same link, same sockets: only the loss rule and the MTU change, so
    # connections in flight live on and feel the difference.
    if [ -n "$loss" ]; then
        set_loss "$CLIENT_NS" "$CLIENT_DEV" "$loss"
        set_loss "$SERVER_NS" "$SERVER_DEV" "$loss"
    fi
    if [ -n "$mtu" ]; then
        ip -n "$CLIENT_NS" link set "$CLIENT_DEV" mtu "$mtu"
        ip -n "$SERVER_NS" link set "$SERVER_DEV" mtu "$mtu"
    fi
}

# report: the lab as the kernel now has it (read back, not remembered).
report() {
    echo "lab $name: $CLIENT_NS ($CLIENT_V4, $CLIENT_V6) <-> $SERVER_NS ($SERVER_V4, $SERVER_V6)," \
        "loss $(current_loss "$SERVER_NS")% per hop, MTU $(current_mtu "$SERVER_NS" "$SERVER_DEV")"
}

case $command in
    up)
        lab_up
        report
        ;;
    impair)
        lab_impair
        report
        ;;
    down)
        if lab_exists; then had=1; else had=0; fi
        lab_down
        if [ "$had" -eq 1 ]; then echo "lab $name removed"; else echo "no lab named $name; nothing to remove"; fi
        ;;
    run)
        ns=$CLIENT_NS
        [ "$role" = client ] || ns=$SERVER_NS
        ns_exists "$ns" || die "there is no lab named '$name'; build it with \`scripts/lab.sh up --name $name\`"
        # `ip netns exec` enters the namespace and execs CMD there (with the
        # namespace's /etc/hosts). `exec`: CMD takes over this process, so
        # its PID is ours and a signal sent to us reaches it.
        exec ip netns exec "$ns" "$@"
        ;;
esac
