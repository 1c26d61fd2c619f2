"""The promises every lesson makes, tried as a careless user and a hostile
network would: closed pipes, IPv6, a stop while peers stream or trickle, a
stop on a host that loses packets, CLI values at the edges, spoofed UDP
loops, a pool pinned by busy clients, a framing client that must not claim
success, and names with odd bytes. Run by soak/hostile.py (`make soak`),
which prints one table for both suites.

Root is needed for the namespaces (stop on a lossy host, a private hosts
file) and the raw socket (spoofed UDP); CI runs as root. A scenario that
cannot run is a failed row, never a skipped one.
"""
import ipaddress
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import hostile
from hostile import BIN, RSS_LIMIT_KB, TIMEOUT, Server, connect, n, probe_echo, probe_length, probe_line, probe_zen, recvall

STOP_LIMIT = 2.0  # seconds: every server stops within this, whatever peers do


def path(binary):
    return os.path.join(BIN, binary)


def row(rows, server, scenario, count, seconds, held, detail=''):
    rows.append((server, scenario, count, seconds, bool(held), detail))


def stopped_in_time(server):
    code, seconds = server.stop(signal.SIGTERM)
    return code == 0 and seconds < STOP_LIMIT, 'exit %s in %.2f s' % (code, seconds)


# The TCP servers and a well-behaved client of each.
TCP_SERVERS = [
    ('tcp-echo', ['tcp-echo', 'server'], probe_echo),
    ('tcp-threaded', ['tcp-threaded', 'server'], probe_line),
    ('framing length', ['framing', 'server', '--strategy', 'length'], probe_length),
    ('event-loop', ['event-loop', 'server'], probe_zen),
]


def probe_udp_on(server, family=socket.AF_INET):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    try:
        sock.connect((server.host, server.port))
        for _ in range(10):
            sock.send(b'still there?')
            try:
                return sock.recv(100) == b'Your data was 12 bytes long'
            except socket.timeout:
                continue
        return False
    finally:
        sock.close()


# ---- 1. closed pipes ------------------------------------------------------

class PipeServer(Server):
    """A server whose stdout or stderr reader goes away: the pipe's read end
    is closed by us, with no reader thread on it, right after the
    `listening on` line."""

    def __init__(self, name, args, closed):
        cmd = [path(args[0])] + args[1:] + ['--port', '0']
        self.name, self.stderr = name, []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if closed == 'stderr':
            self.proc.stderr.close()
        else:
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr), daemon=True).start()
        match = re.fullmatch(r'listening on (\S+):(\d+)\n', self._first_line())
        if not match:
            self.proc.kill()
            raise RuntimeError('%s: no listening line' % name)
        self.host, self.port = match.group(1).strip('[]'), int(match.group(2))
        if closed == 'stdout':
            self.proc.stdout.close()
        else:
            threading.Thread(target=self._drain, args=(self.proc.stdout, []), daemon=True).start()


def closed_pipes(rows):
    """A server whose stderr reader went away keeps serving and still stops
    on SIGTERM; one whose stdout reader went away after `listening on` too
    (framing's server, whose stdout is the lesson's output, must say so and
    exit 1 instead)."""
    for name, args, probe in TCP_SERVERS + [('udp-datagrams', ['udp-datagrams', 'server'], probe_udp_on)]:
        for pipe in ['stderr', 'stdout']:
            server = PipeServer(name, args, pipe)
            started = time.monotonic()
            try:
                served = 0
                for _ in range(n(50)):
                    try:
                        served += bool(probe(server))
                    except (OSError, EOFError):
                        pass
                if name == 'framing length' and pipe == 'stdout':
                    # Its first printed message hits the closed pipe.
                    try:
                        code = server.proc.wait(5)
                    except subprocess.TimeoutExpired:
                        code = None
                    said = any('writing to stdout' in line for line in server.stderr)
                    held = code == 1 and said
                    detail = 'exit %s, said it: %s (wanted exit 1 and `writing to stdout`)' % (code, said)
                else:
                    ok, detail = stopped_in_time(server)
                    held = ok and served == n(50)
                    detail = '%d/%d served; %s' % (served, n(50), detail)
                row(rows, name, 'closed %s (server)' % pipe, n(50), time.monotonic() - started, held, detail)
            finally:
                server.kill()


CLIENTS = [
    ('tcp-echo client', ['tcp-echo', 'client', 'hello']),
    ('tcp-threaded client', ['tcp-threaded', 'client', '--connections', '1', '--requests', '1']),
    ('udp-datagrams client', ['udp-datagrams', 'client']),
    ('framing client', ['framing', 'client', '--strategy', 'fixed', 'hi']),
    ('resolver-dump', ['resolver-dump', 'localhost', 'http']),
    ('event-loop client', ['event-loop', 'client', 'Simple is better than?']),
]


def run_closed(cmd, close):
    """Runs cmd with its stdout or stderr pipe closed before it writes; at
    most 20 s (a client that hangs is a failed row, not a hung soak)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    getattr(proc, close).close()
    setattr(proc, close, None)  # communicate() reads only the other pipe
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, 'still running after 20 s'
    text = err if close == 'stdout' else out
    return proc.returncode, text.decode(errors='replace')


def closed_pipes_clients(rows):
    """A client whose stdout is closed ends with `error: writing to stdout`
    and exit 1 (or exit 0 when it had nothing to print); one whose stderr is
    closed while it reports an error exits 1: never 101 (a panic)."""
    servers = {
        'tcp-echo': Server('tcp-echo', ['tcp-echo', 'server']),
        'tcp-threaded': Server('tcp-threaded', ['tcp-threaded', 'server']),
        'udp-datagrams': Server('udp-datagrams', ['udp-datagrams', 'server']),
        'framing': Server('framing', ['framing', 'server', '--strategy', 'fixed']),
        'event-loop': Server('event-loop', ['event-loop', 'server']),
    }
    try:
        for name, cmd in CLIENTS:
            binary = cmd[0]
            port = ['--port', str(servers[binary].port)] if binary in servers else []
            started = time.monotonic()
            code, text = run_closed([path(binary)] + cmd[1:] + port, 'stdout')
            held = code in (0, 1) and 'panicked' not in text and (code == 0 or 'writing to stdout' in text)
            row(rows, name, 'closed stdout (client)', 1, time.monotonic() - started, held,
                'exit %s %s' % (code, text.strip()[:80]))
            # An error to report (a refused port, an unknown name) into a closed stderr.
            if binary == 'resolver-dump':
                failing = [path(binary), 'no-such-host.invalid']
            else:
                _held, refused = hostile_refused_port()
                failing = [path(binary)] + cmd[1:] + ['--port', str(refused)]
            started = time.monotonic()
            code, text = run_closed(failing, 'stderr')
            row(rows, name, 'closed stderr (client)', 1, time.monotonic() - started, code == 1,
                'exit %s (wanted 1)' % code)
    finally:
        for server in servers.values():
            server.kill()


_held_ports = []


def hostile_refused_port():
    """A loopback port, TCP and UDP, where nobody listens: bound (so no one
    else takes it) but not listening; UDP to it gets port unreachable."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(('127.0.0.1', 0))
    _held_ports.append(tcp)
    return tcp, tcp.getsockname()[1]


# ---- 2. IPv6 --------------------------------------------------------------

def ipv6(rows):
    for name, args, probe in TCP_SERVERS + [('udp-datagrams', ['udp-datagrams', 'server'], None)]:
        for host in ['::1', '[::1]']:
            started = time.monotonic()
            try:
                server = Server(name, args + ['--host', host])
            except RuntimeError as e:
                row(rows, name, 'IPv6 --host %s' % host, 0, 0, False, str(e))
                continue
            try:
                if probe is None:
                    served = probe_udp_on(server, socket.AF_INET6)
                else:
                    served = probe(server)
                ok, detail = stopped_in_time(server)
                row(rows, name, 'IPv6 --host %s' % host, 1, time.monotonic() - started, served and ok,
                    'listening on [%s]:%d; %s' % (server.host, server.port, detail))
            finally:
                server.kill()


# ---- 3. a stop while peers stream, trickle or pipeline ----------------------

def stop_while(rows, name, args, peer, what):
    server = Server(name, args)
    done = threading.Event()
    thread = threading.Thread(target=peer, args=(server, done), daemon=True)
    try:
        thread.start()
        if not done.wait(10):  # the peer says when its attack is under way
            row(rows, name, 'SIGTERM while ' + what, 1, 0, False, 'the peer never got going')
            return
        code, seconds = server.stop(signal.SIGTERM)
        row(rows, name, 'SIGTERM while ' + what, 1, seconds,
            code == 0 and seconds < STOP_LIMIT and not server.panicked(), 'exit %s in %.2f s' % (code, seconds))
    finally:
        server.kill()
        thread.join(5)


def streamer(header=b''):
    """Writes as fast as the server takes it, reading back on a second thread."""
    def peer(server, going):
        sock = connect(server, timeout=3)
        threading.Thread(target=lambda: drain(sock), daemon=True).start()
        chunk = b'x' * 65536
        try:
            sock.sendall(header)
            for i in range(100000):  # at most 6.5 GB; the server stops long before
                sock.sendall(chunk)
                if i == 100:
                    going.set()
        except OSError:
            pass
        going.set()
    return peer


def drain(sock):
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def trickler(data=b'1' * 400):
    """Sends `data` a byte every 50 ms (400 bytes: at most 20 s)."""
    def peer(server, going):
        sock = connect(server, timeout=3)
        try:
            for i, byte in enumerate(data):
                sock.send(bytes([byte]))
                if i == 5:
                    going.set()
                time.sleep(0.05)  # the trickle rate (the attack), not synchronisation
        except OSError:
            pass
        going.set()
    return peer


def pipeliner(server, going):
    """4096 pipelined requests at --delay-ms 20: 80 s of work in one burst."""
    sock = connect(server, timeout=3)
    try:
        sock.sendall(b'request\n' * 4096)
        recvall(sock, 8)  # the first reply: the burst is being served
    except (OSError, EOFError):
        pass
    going.set()
    drain(sock)


def stops(rows):
    for name, args, _ in TCP_SERVERS:
        stop_while(rows, name, args, trickler(), 'a client trickles a byte every 50 ms')
    stop_while(rows, 'tcp-echo', ['tcp-echo', 'server'], streamer(), 'a client streams')
    stop_while(rows, 'framing length', ['framing', 'server', '--strategy', 'length', '--max-frame', '4294967295'],
               streamer(struct.pack('!I', 0xFFFFFFF0)), 'a client streams a 4 GB frame')
    stop_while(rows, 'framing upper-server', ['framing', 'upper-server'], streamer(), 'a client streams')
    stop_while(rows, 'tcp-threaded', ['tcp-threaded', 'server', '--delay-ms', '20'], pipeliner,
               'a burst of 4096 pipelined requests is served')
    stop_while(rows, 'event-loop echo', ['event-loop', 'server', '--protocol', 'echo'], streamer(), 'a client streams')


# ---- 4. a stop on a host that loses packets ---------------------------------

LOSSY_SERVERS = [['tcp-echo', 'server'], ['tcp-threaded', 'server'], ['framing', 'server', '--strategy', 'length'],
                 ['framing', 'upper-server'], ['udp-datagrams', 'server'], ['udp-datagrams', 'broadcast-listen'],
                 ['event-loop', 'server']]


def inside_lossy_namespace(loss):
    """Runs in a fresh network namespace: loopback up, an nftables rule that
    drops `loss`% of the packets arriving, 4 idle servers of each kind, then
    SIGTERM to all. Prints a JSON list of [command, exit code, seconds]."""
    subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=True)
    drop = 'drop' if loss >= 100 else 'numgen random mod 100 < %d drop' % loss
    rules = 'table inet soak {\n chain input {\n  type filter hook input priority 0;\n  %s\n }\n}\n' % drop
    subprocess.run(['nft', '-f', '-'], input=rules.encode(), check=True)
    servers = []
    for args in LOSSY_SERVERS:
        for _ in range(4):
            servers.append((' '.join(args), Server(args[1], args)))
    results = []
    for label, server in servers:
        code, seconds = server.stop(signal.SIGTERM)
        results.append([label, code, seconds])
        server.kill()
    print(json.dumps(results))


def lossy_stop(rows):
    for loss in [40, 100]:
        started = time.monotonic()
        proc = subprocess.run(['unshare', '--net', sys.executable, os.path.abspath(__file__), BIN, '--lossy', str(loss)],
                              capture_output=True, timeout=120)
        try:
            results = json.loads(proc.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            row(rows, 'all servers', 'stop on a host losing %d%%' % loss, 0, time.monotonic() - started, False,
                'could not run: %s' % proc.stderr.decode()[-200:])
            continue
        late = [r for r in results if r[1] != 0 or r[2] >= STOP_LIMIT]
        slowest = max(r[2] for r in results)
        row(rows, 'all servers', 'stop on a host losing %d%%' % loss, len(results), time.monotonic() - started,
            not late, '%d of %d stopped within %.0f s (slowest %.3f s)%s' % (
                len(results) - len(late), len(results), STOP_LIMIT, slowest, '; late: %s' % late if late else ''))


# ---- 5. CLI values at the edges -------------------------------------------

# The largest accepted values are here too (86400: a day, the most any
# timeout takes; 4294967295: u32's maximum), and a server that accepts a
# value is poked once before it is stopped: a limit may only bite (and
# panic) when a connection comes.
EXTREMES = ['0', '-1', '1e20', '86400', '100000', '4000000000', '4294967295', '18446744073709551615',
            '18446744073709551616', '100000000000', 'NaN', 'inf', '']


def poke(line, request=b'\x00\x00\x00\x05hello\n'):
    """One short exchange with a server that printed `line` (`listening on
    ADDR`): TCP if it accepts, else one UDP datagram. Errors are fine."""
    host, port = line.decode().split()[-1].rsplit(':', 1)
    host = host.strip('[]')
    host = {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(host, host)
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    try:
        with socket.create_connection((host, int(port)), timeout=1) as sock:
            sock.settimeout(0.5)
            sock.sendall(request)
            sock.recv(100)
    except ConnectionRefusedError:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.sendto(b'hello\n', (host, int(port)))
    except OSError:
        pass

COMMANDS = [['tcp-echo', 'server'], ['tcp-echo', 'client'],
            ['tcp-threaded', 'server'], ['tcp-threaded', 'client'],
            ['udp-datagrams', 'server'], ['udp-datagrams', 'client'], ['udp-datagrams', 'big'],
            # (broadcast-send takes no flag but --host and --port: nothing to try)
            ['udp-datagrams', 'broadcast-listen'],
            ['framing', 'server'], ['framing', 'client'], ['framing', 'upper-server'], ['framing', 'deadlock-client'],
            ['resolver-dump'], ['event-loop', 'server'], ['event-loop', 'client'],
            ['udp-realtime', 'send'], ['udp-realtime', 'receive'], ['packet-watch'],
            ['http-basics', 'server'], ['http-basics', 'get'], ['http-basics', 'post']]

SKIP_FLAGS = {'--port', '--host', '--help', '--version', '--trace'}


def value_flags(cmd):
    """The flags that take a value, read from --help."""
    text = subprocess.run([path(cmd[0])] + cmd[1:] + ['--help'], capture_output=True, timeout=10).stdout.decode()
    return sorted(set(re.findall(r'^\s+(?:-\w, )?(--[a-z-]+) <', text, re.M)) - SKIP_FLAGS)


def try_value(cmd, flag, value, refused):
    """Runs one command with one extreme value: a usage error (2), a clean
    failure (1) or a run (0, or a server we stop) are fine; a panic, an
    abort or a crash is not."""
    args = [os.path.abspath(path(cmd[0]))] + cmd[1:] + [flag, value]
    if cmd[0] == 'http-basics' and cmd[1] != 'server':
        # The client's address is its URL; post needs a body unless the
        # flag tried is one.
        args += ['http://127.0.0.1:%d/' % refused]
        if cmd[1] == 'post' and flag not in ('--form', '--data', '--json'):
            args += ['--data', 'x']
    elif cmd[0] != 'resolver-dump':
        # (packet-watch's --port is its filter: the refused port will do.)
        args += ['--port', '0' if cmd[-1] in ('server', 'upper-server', 'broadcast-listen', 'receive') else str(refused)]
    else:
        args += ['localhost']
    # In a directory of its own: a value taken as a file name (--pcap 0,
    # --wav -1) makes its file there.
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=_scratch())
    # A server that accepted the value says `listening on` (a capture,
    # `capturing on`): stop it at once.
    first = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(3)
    if first and first[0].startswith((b'listening on', b'capturing on')):
        if first[0].startswith(b'listening on'):
            # An HTTP server gets a real request, so its limits are used.
            poke(first[0], b'GET / HTTP/1.1\r\nHost: soak\r\n\r\n' if cmd[0] == 'http-basics'
                 else b'\x00\x00\x00\x05hello\n')
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # a client still trying: fine, if it stops
        try:
            out, err = proc.communicate(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return 'hung after SIGTERM'
    err = err.decode(errors='replace')
    if proc.returncode is not None and proc.returncode < 0 and proc.returncode != -signal.SIGTERM:
        return 'killed by signal %d' % -proc.returncode
    if proc.returncode == 101 or 'panicked' in err:
        return 'panicked: %s' % err.strip()[:120]
    if proc.returncode == 2 and 'error' not in err:
        return 'usage error without a message'
    return None


_scratch_dir = []


def _scratch():
    """A temporary directory for the CLI extremes' stray files, removed at exit."""
    if not _scratch_dir:
        _scratch_dir.append(tempfile.TemporaryDirectory(prefix='soak-cli-'))
    return _scratch_dir[0].name


def cli_extremes(rows):
    _held, refused = hostile_refused_port()
    for cmd in COMMANDS:
        started = time.monotonic()
        problems, tried = [], 0
        for flag in value_flags(cmd):
            for value in EXTREMES:
                tried += 1
                problem = try_value(cmd, flag, value, refused)
                if problem:
                    problems.append('%s %s: %s' % (flag, value or "''", problem))
        if not tried:  # a row that tried nothing could not fail: it fails
            problems.append('no flag with a value found in --help')
        row(rows, ' '.join(cmd), 'CLI extremes', tried, time.monotonic() - started, not problems,
            '; '.join(problems[:3]) + (' (+%d more)' % (len(problems) - 3) if len(problems) > 3 else ''))


# ---- 6. spoofed UDP: no endless loops ---------------------------------------

def checksum(data):
    if len(data) % 2:
        data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def spoof(src_port, dst_port, payload, addr='127.0.0.1'):
    """Sends one UDP datagram that claims to come from addr:src_port (a raw
    socket with our own IP header: root only)."""
    ip = ipaddress.IPv4Address(addr).packed
    udp_len = 8 + len(payload)
    pseudo = ip + ip + struct.pack('!BBH', 0, socket.IPPROTO_UDP, udp_len)
    header = struct.pack('!HHHH', src_port, dst_port, udp_len, 0)
    header = struct.pack('!HHHH', src_port, dst_port, udp_len, checksum(pseudo + header + payload) or 0xFFFF)
    packet = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + udp_len, 0, 0, 64, socket.IPPROTO_UDP, 0, ip, ip)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        raw.sendto(packet + header + payload, (addr, 0))
    finally:
        raw.close()


def received(server):
    """The count in the server's closing summary (its stderr is read by a
    thread, which may lag the exit a little: look for up to 2 s)."""
    end = time.monotonic() + 2
    while time.monotonic() < end:
        for line in list(server.stderr):
            match = re.search(r'received (\d+) datagrams', line)
            if match:
                return int(match.group(1))
        time.sleep(0.05)  # polling a list another thread fills, bounded
    return None


def udp_loops(rows):
    """One spoofed datagram between two servers (A's address as source, sent
    to B), and one from a server to itself: the exchange must die out."""
    for case in ['between two servers', 'from a server to itself']:
        started = time.monotonic()
        a = Server('udp A', ['udp-datagrams', 'server'])
        b = Server('udp B', ['udp-datagrams', 'server']) if case == 'between two servers' else a
        try:
            try:
                spoof(a.port, b.port, b'ping!')
            except PermissionError as e:
                row(rows, 'udp-datagrams', 'spoofed loop ' + case, 0, 0, False, 'raw socket: %s (root needed)' % e)
                continue
            time.sleep(2)  # how long a loop gets to run (the measurement window), not synchronisation
            alive = probe_udp_on(b)
            counts = []
            for server in {id(a): a, id(b): b}.values():
                server.stop(signal.SIGTERM)
                server.proc.wait(5)
                counts.append(received(server))
            total = sum(c or 0 for c in counts)
            # A loop at full speed exchanges tens of thousands in 2 s.
            row(rows, 'udp-datagrams', 'spoofed loop ' + case, total, time.monotonic() - started,
                alive and None not in counts and total < 100,
                'datagrams received: %s (a live loop: >10000)' % counts)
        finally:
            a.kill()
            b.kill()


# ---- 7. a pool pinned by busy clients ----------------------------------------

def logged(server, pattern, wait=2.0):
    """The first stderr line matching `pattern` (a regex), looked for up to
    `wait` s: the stderr reader thread may lag the server a little."""
    end = time.monotonic() + wait
    while True:
        for line in list(server.stderr):
            match = re.search(pattern, line)
            if match:
                return match
        if time.monotonic() >= end:
            return None
        time.sleep(0.05)  # polling a list another thread fills, bounded


def pinned_pool(rows):
    """Four clients that each send a line every second hold a 4-worker pool;
    a fifth must still be served, once --max-connection-secs frees a worker.
    The server must say that connections queue, and, once the queue is
    empty again, how long the longest wait was (about as long as the
    newcomer waited)."""
    started = time.monotonic()
    server = Server('tcp-threaded', ['tcp-threaded', 'server', '--workers', '4', '--max-connection-secs', '3'])
    stop = threading.Event()

    def busy():
        try:
            sock = connect(server)
            while not stop.is_set():
                sock.sendall(b'busy\n')
                recvall(sock, 5)
                stop.wait(1)  # the client's pace, not synchronisation
        except (OSError, EOFError):
            pass

    holders = [threading.Thread(target=busy, daemon=True) for _ in range(4)]
    try:
        for thread in holders:
            thread.start()
        time.sleep(0.5)  # let the four take the workers (the scenario's setup), not synchronisation
        served_in = None
        try:
            t0 = time.monotonic()
            served = probe_line(server, timeout=15)
            served_in = time.monotonic() - t0
        except (OSError, EOFError):
            served = False
        queued = logged(server, r'every worker \(4\) is busy')
        emptied = logged(server, r'queue is empty again after [\d.]+ s; the longest wait for a worker was ([\d.]+) s')
        longest = float(emptied.group(1)) if emptied else None
        # The newcomer's own wait is the longest: it must show, to within
        # the log's 0.1 s rounding and the probe's own round trip.
        wait_told = longest is not None and served_in is not None and served_in - 0.5 <= longest <= served_in + 0.1
        row(rows, 'tcp-threaded', 'pool pinned by busy clients', 5, time.monotonic() - started,
            served and queued and wait_told, 'newcomer served in %s s; queueing logged: %s; longest wait logged: %s s' % (
                '%.1f' % served_in if served_in is not None else '-', bool(queued),
                longest if longest is not None else '-'))
    finally:
        stop.set()
        server.kill()


# ---- 8. the framing client claims no success it cannot know ----------------

def framing_client(rows):
    def attempt(label, server_args, client_args, want=(1,)):
        started = time.monotonic()
        server = Server('framing', ['framing', 'server'] + server_args) if server_args else None
        try:
            port = ['--port', str(server.port)] if server else ['--port', '1']
            proc = subprocess.run([path('framing'), 'client'] + client_args + port, capture_output=True, timeout=20)
            err = proc.stderr.decode(errors='replace')
            row(rows, 'framing client', label, 1, time.monotonic() - started,
                proc.returncode in want and 'panicked' not in err,
                'exit %s (wanted %s): %s' % (proc.returncode, want, err.strip().splitlines()[0][:90] if err.strip() else ''))
        finally:
            if server:
                server.kill()

    # Against a real server: with nobody listening, exit 1 (refused) would
    # pass for a client that accepts the empty message.
    attempt('an empty length message is refused', ['--strategy', 'length'],
            ['--strategy', 'length', 'first', '', 'third'], (1, 2))
    attempt('a frame over the server\'s --max-frame', ['--strategy', 'length', '--max-frame', '10'],
            ['--strategy', 'length', 'x' * 1000])
    attempt('a line over the server\'s --max-len', ['--strategy', 'delimiter', '--max-len', '10'],
            ['--strategy', 'delimiter', 'y' * 1000])
    attempt('a server on another strategy', ['--strategy', 'netstring'], ['--strategy', 'length', 'hello'])


def large_limits(rows):
    """Non-default large limits: a 12-byte netstring header must not make the
    server allocate what it claims."""
    server = Server('framing netstring', ['framing', 'server', '--strategy', 'netstring', '--max-frame', '18446744073709551615'])
    started = time.monotonic()
    try:
        before = server.rss_kb()
        for header in [b'99999999999:', b'18446744073709551615:', b'18446744073709551616:,']:
            try:
                with connect(server) as sock:
                    sock.sendall(header)
                    sock.shutdown(socket.SHUT_WR)
                    sock.recv(10)
            except OSError:
                pass
        after = server.rss_kb()
        alive = server.alive() and hostile.probe_netstring(server)
        row(rows, 'framing netstring', 'huge --max-frame, 12-byte headers', 3, time.monotonic() - started,
            alive and after < 64 * 1024 and not server.panicked(), 'RSS %d->%d KB' % (before, after))
    finally:
        server.kill()


# ---- 9. names with odd bytes ------------------------------------------------

ODD_HOSTS = (b'127.0.0.9 esc\x1b[31mred alias-esc\n'
             b'127.0.0.10 bytes\xff\xfename alias-bytes\n'
             b'127.0.0.11 rtl\xe2\x80\xaename alias-rtl\n')


def resolver_odd_names(rows):
    with tempfile.NamedTemporaryFile(delete=False) as hosts:
        hosts.write(b'127.0.0.1 localhost\n' + ODD_HOSTS)
    try:
        for args in [['alias-esc', '--canonname'], ['alias-bytes', '--canonname'], ['alias-rtl', '--canonname', '--json'],
                     ['--reverse', '127.0.0.9'], ['--reverse', '127.0.0.10'], ['--reverse', '127.0.0.11']]:
            started = time.monotonic()
            script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"'
            proc = subprocess.run(['unshare', '--mount', 'sh', '-c', script, 'sh', hosts.name, path('resolver-dump')] + args,
                                  capture_output=True, timeout=20)
            out, err = proc.stdout, proc.stderr.decode(errors='replace')
            raw = [c for c in (b'\x1b', b'\xff', b'\xe2\x80\xae') if c in out]
            held = proc.returncode in (0, 1) and 'panicked' not in err and not raw
            row(rows, 'resolver-dump', 'odd names: ' + ' '.join(args), 1, time.monotonic() - started, held,
                'exit %s; raw bytes printed: %s; %s' % (proc.returncode, raw, err.strip()[:60]))
    finally:
        os.unlink(hosts.name)


# ---- 10. tcp-threaded, as its author recommended ---------------------------

def pipeliners(count, served):
    """`count` connections, each pipelining 4096 requests at once (at
    --delay-ms 20, 80 s of work each); going once the first `served` of
    them have each had a first answer (single mode serves one at a time)."""
    def peer(server, going):
        socks = []
        try:
            for _ in range(count):
                sock = connect(server, timeout=5)
                socks.append(sock)
                sock.sendall(b'request\n' * 4096)  # 32 KiB: the socket buffers take it
            for sock in socks[:served]:
                recvall(sock, 8)
        except (OSError, EOFError):
            pass
        going.set()
        for sock in socks:  # read on until the server closes them
            drain(sock)
    return peer


def threaded_bursts(rows):
    """SIGTERM while several connections pipeline --delay-ms bursts, in every
    mode: the request in hand is answered, the bursts end, exit 0 within 2 s."""
    for mode, served in [('single', 1), ('thread', 4), ('pool', 4)]:
        stop_while(rows, 'tcp-threaded --mode ' + mode,
                   ['tcp-threaded', 'server', '--mode', mode, '--delay-ms', '20'], pipeliners(4, served),
                   '4 connections pipeline --delay-ms bursts')


def full_pipe():
    """A pipe whose reader never reads, filled to the brim before the server
    gets its write end as stderr: its first log line meets a full pipe, as
    under `server 2>&1 | less` left on its first page. Returns (read end,
    write end); the read end must stay open, unread, for the server's life."""
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        while True:
            os.write(w, b'x' * 4096)
    except BlockingIOError:
        pass
    os.set_blocking(w, True)  # the server gets a blocking stderr, as from a shell
    return r, w


class StuckStderrServer(Server):
    """A server whose stderr is a full pipe that nobody reads."""

    def __init__(self, name, args):
        cmd = [path(args[0])] + args[1:] + ['--port', '0']
        self.name, self.stderr = name, []
        self.stuck, w = full_pipe()
        try:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=w, stdin=subprocess.DEVNULL)
        except OSError:
            os.close(self.stuck)
            raise
        finally:
            os.close(w)
        match = re.fullmatch(r'listening on (\S+):(\d+)\n', self._first_line())
        if not match:
            self.kill()
            raise RuntimeError('%s: no listening line' % name)
        self.host, self.port = match.group(1).strip('[]'), int(match.group(2))
        threading.Thread(target=self._drain, args=(self.proc.stdout, []), daemon=True).start()

    def kill(self):
        Server.kill(self)
        if self.stuck is not None:
            os.close(self.stuck)
            self.stuck = None


def stuck_stderr(rows):
    """A stderr nobody reads must neither deafen a server nor block its stop
    (a log line waits for room at most 0.5 s, common/src/log.rs). With
    --trace every connection logs several lines into the full pipe."""
    servers = [(name, args + (['--trace'] if name != 'udp-datagrams' else []), probe)
               for name, args, probe in TCP_SERVERS + [('udp-datagrams', ['udp-datagrams', 'server'], probe_udp_on)]]
    for name, args, probe in servers:
        started = time.monotonic()
        try:
            server = StuckStderrServer(name, args)
        except RuntimeError as e:
            row(rows, name, 'stderr never read (server)', 0, time.monotonic() - started, False, str(e))
            continue
        try:
            served = 0
            for _ in range(n(100)):
                try:
                    served += bool(probe(server, timeout=5) if probe is not probe_udp_on else probe(server))
                except (OSError, EOFError):
                    pass
            ok, detail = stopped_in_time(server)
            row(rows, name, 'stderr never read (server)', n(100), time.monotonic() - started,
                ok and served == n(100), '%d/%d served; %s' % (served, n(100), detail))
        finally:
            server.kill()


def closed_stderr_small_pool(rows):
    """The author's case: --workers 2 --trace, stderr closed, and more
    connections than workers at once, so the queue's log lines fire too."""
    started = time.monotonic()
    server = PipeServer('tcp-threaded', ['tcp-threaded', 'server', '--workers', '2', '--trace'], 'stderr')
    results = []

    def client(i):
        try:
            with connect(server, timeout=15) as sock:
                for j in range(5):
                    line = b'client %d line %d\n' % (i, j)
                    sock.sendall(line)
                    if recvall(sock, len(line)) != line:
                        raise EOFError('a wrong answer')
            results.append(True)
        except (OSError, EOFError):
            results.append(False)

    try:
        clients = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(8)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(30)
        served = sum(results)
        ok, detail = stopped_in_time(server)
        row(rows, 'tcp-threaded --workers 2', 'closed stderr, 8 clients', 8, time.monotonic() - started,
            ok and served == 8, '%d/8 served; %s' % (served, detail))
    finally:
        server.kill()


def over_limit_resets(rows):
    """--max-connections 1: with the one place taken, every newcomer must
    see a reset (at connect, send or recv), never an EOF that a client
    reads as "served, and closed"; half of them send a request first."""
    started = time.monotonic()
    server = Server('tcp-threaded', ['tcp-threaded', 'server', '--max-connections', '1'])
    outcomes = {'reset': 0, 'EOF': 0, 'answered': 0, 'other': 0}
    try:
        holder = connect(server)
        holder.sendall(b'mine\n')
        recvall(holder, 5)  # the one place is taken
        for i in range(n(40)):
            try:
                with connect(server, timeout=5) as sock:
                    if i % 2:
                        sock.sendall(b'let me in\n')
                    outcomes['answered' if sock.recv(100) else 'EOF'] += 1
            except (ConnectionResetError, BrokenPipeError):
                outcomes['reset'] += 1
            except OSError:
                outcomes['other'] += 1
        # The place is free only once the server has seen the holder go
        # (its `PEER: ..., closed` line); a probe before that is refused
        # like any newcomer. Polling a list another thread fills, bounded.
        holder_peer = '%s:%d:' % holder.getsockname()[:2]
        holder.close()
        end = time.monotonic() + 5
        while not any(l.startswith(holder_peer) for l in list(server.stderr)) and time.monotonic() < end:
            time.sleep(0.02)
        alive = probe_line(server)
        row(rows, 'tcp-threaded', '--max-connections 1: reset', n(40), time.monotonic() - started,
            outcomes['reset'] == n(40) and alive and not server.panicked(),
            ', '.join('%s %d' % kv for kv in outcomes.items()) + '; served after: %s' % alive)
    except (OSError, EOFError) as e:
        row(rows, 'tcp-threaded', '--max-connections 1: reset', 0, time.monotonic() - started, False, str(e))
    finally:
        server.kill()


def stop_with_a_slow_reader(rows):
    """A client pipelines 1000-byte requests with a small receive window and
    reads nothing until the stop: the answers the server counts must all
    reach it (or the server must say how many bytes did not)."""
    started = time.monotonic()
    server = Server('tcp-threaded', ['tcp-threaded', 'server', '--delay-ms', '1', '--trace'])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect((server.host, server.port))
        line = b'r' * 999 + b'\n'

        def send():
            try:
                for _ in range(3000):
                    sock.sendall(line)
            except OSError:
                pass  # the server stopped and reset us

        threading.Thread(target=send, daemon=True).start()
        end = time.monotonic() + 10
        while sum('trace: send() -> 1000 bytes' in l for l in list(server.stderr)) < 1000 and time.monotonic() < end:
            time.sleep(0.05)  # polling a list another thread fills, bounded
        got = [0]

        def read():  # from the stop on, everything that comes
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        return
                    got[0] += len(data)
            except OSError:
                pass  # the reset after the answers

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        code, seconds = server.stop(signal.SIGTERM)
        reader.join(10)
        received = got[0]
        told = logged(server, r'(\d+) requests?, (closed: the server is stopping|connection ended: .*)')
        counted = int(told.group(1)) if told else None
        lost = re.search(r'(\d+) bytes of answers not delivered', told.group(2)) if told else None
        # Every counted answer arrived, or the server said how many bytes did not.
        truthful = counted is not None and (received // len(line) == counted or lost is not None)
        row(rows, 'tcp-threaded', 'SIGTERM with a slow reader', 1, time.monotonic() - started,
            truthful and code == 0 and seconds < STOP_LIMIT,
            'answers counted %s, received %d; exit %s in %.2f s%s' % (
                counted, received // len(line), code, seconds, '; said: ' + told.group(2)[:60] if lost else ''))
    except OSError as e:
        row(rows, 'tcp-threaded', 'SIGTERM with a slow reader', 0, time.monotonic() - started, False, str(e))
    finally:
        sock.close()
        server.kill()


def server_socket_queues(port):
    """Bytes waiting in the kernel for the server to read, summed over the
    server's side of its connections (/proc/net/tcp and tcp6, rx_queue)."""
    total = 0
    for table in ['/proc/net/tcp', '/proc/net/tcp6']:
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(':', 1)[1], 16) == port:
                    total += int(fields[4].split(':')[1], 16)
    return total


def threaded_memory(rows):
    """Thread mode, 1000 clients each holding a 64 KiB line: partial (no
    newline yet), or sent whole, answered, and then idle. The README's
    bound is the product of the limits, --max-line + 20 KiB a connection
    (84 MiB at the defaults' 1024), not soak's flat 64 MiB: judged here as
    what the 1000 connections added to an idle server's RSS."""
    count, line = 1000, 64 * 1024
    bound_kb = count * (line // 1024 + 20)
    for case in ['a partial 64 KiB line', 'one 64 KiB line answered, then idle']:
        started = time.monotonic()
        server = Server('tcp-threaded --mode thread', ['tcp-threaded', 'server', '--mode', 'thread'])
        socks = []
        try:
            before = server.rss_kb()
            for _ in range(count):
                sock = connect(server)
                socks.append(sock)
                if case.startswith('a partial'):
                    sock.sendall(b'x' * line)
                else:
                    sock.sendall(b'x' * (line - 1) + b'\n')
                    recvall(sock, line)
            # Every byte sent is read by the server before RSS is judged:
            # nothing in its receive queues (bounded: 20 s).
            end = time.monotonic() + 20
            while server_socket_queues(server.port) and time.monotonic() < end:
                time.sleep(0.1)  # polling the kernel's queues, bounded
            waiting = server_socket_queues(server.port)
            after = server.rss_kb()
            grown = after - before
            row(rows, 'tcp-threaded --mode thread', '1000 x ' + case, count, time.monotonic() - started,
                grown <= bound_kb and not waiting and server.alive() and not server.panicked(),
                'RSS %d->%d KB: +%.1f MiB (bound: 1000 x (64 + 20) KiB = %.1f MiB)%s' % (
                    before, after, grown / 1024, bound_kb / 1024, '; %d bytes unread' % waiting if waiting else ''))
        except (OSError, EOFError) as e:
            row(rows, 'tcp-threaded --mode thread', '1000 x ' + case, len(socks), time.monotonic() - started, False,
                '%s after %d connections' % (e, len(socks)))
        finally:
            for sock in socks:
                sock.close()
            server.kill()


# ---- 11. udp-realtime: hostile datagrams, stops in every state, closed pipes

class Receiver(Server):
    """`udp-realtime receive` on port 0, its stdout lines kept (the counters
    line comes last); `closed` is 'stdout' or 'stderr' for a pipe whose
    reader goes away right after the `listening on` line."""

    def __init__(self, args, closed=None):
        cmd = [path('udp-realtime'), 'receive', '--port', '0', '--playout-ms', '300'] + args
        self.name, self.stderr, self.stdout = 'udp-realtime receive', [], []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        if closed == 'stderr':
            self.proc.stderr.close()
        else:
            threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr), daemon=True).start()
        match = re.fullmatch(r'listening on (\S+):(\d+)\n', self._first_line())
        if not match:
            self.proc.kill()
            raise RuntimeError('udp-realtime receive: no listening line')
        self.host, self.port = match.group(1).strip('[]'), int(match.group(2))
        if closed == 'stdout':
            self.proc.stdout.close()
        else:
            threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout), daemon=True).start()

    def counters(self):
        """The last stdout line's counters (the reader may lag the exit: up to 2 s)."""
        end = time.monotonic() + 2
        while time.monotonic() < end:
            for line in list(self.stdout):
                if line.startswith('frames='):
                    return dict(pair.split('=') for pair in line.split())
            time.sleep(0.05)  # polling a list another thread fills, bounded
        return None


def realtime_datagram(seq, copies=0, pcm=b'\0' * 640):
    """The lesson's wire format (crates/udp-realtime/src/wire.rs)."""
    head = b'SLRT' + struct.pack('!IIB', seq & 0xFFFFFFFF, (seq * 320) & 0xFFFFFFFF, copies)
    return head + b''.join(struct.pack('!BH', d, 160) + b'\x7f' * 160 for d in range(1, copies + 1)) + pcm


def realtime_stream(port, frames, also=None):
    """`frames` datagrams, one every 20 ms (the sender's pace), from one socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    try:
        for seq in range(frames):
            sock.sendto(realtime_datagram(seq, 1), ('127.0.0.1', port))
            if also:
                also(sock, seq)
            wait = start + (seq + 1) * 0.02 - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the stream's pace (20 ms frames), not synchronisation
    finally:
        sock.close()


def realtime_end(receiver):
    """The receiver ends by itself 2 s after the last datagram: its exit
    code (None if it did not, within 10 s: then it is killed)."""
    try:
        return receiver.proc.wait(10)
    except subprocess.TimeoutExpired:
        receiver.kill()
        return None


def realtime_stop(rows, label, receiver, started, want_frames=None):
    """SIGTERM within 2 s (or, `ends`, its own end), exit 0, the counters
    line printed, no panic."""
    if label.startswith('SIGTERM'):
        code, seconds = receiver.stop(signal.SIGTERM)
    else:
        code, seconds = realtime_end(receiver), 0
    counters = receiver.counters()
    held = code == 0 and seconds < STOP_LIMIT and counters is not None and not receiver.panicked()
    if want_frames is not None:
        held = held and counters is not None and want_frames(counters)
    how = 'exit %s in %.2f s' % (code, seconds) if label.startswith('SIGTERM') else 'ended by itself, exit %s' % code
    row(rows, 'udp-realtime receive', label, 1, time.monotonic() - started, held,
        '%s; %s' % (how, ' '.join('%s=%s' % kv for kv in (counters or {}).items())))


def realtime(rows):
    """udp-realtime's receiver against what the network and strangers send,
    stopped in every state; both sides with closed pipes."""
    rng = random.Random(14)

    # Garbage of every size (65 000 bytes: more than the receive buffer),
    # a stranger's stream, forged jumps of 2^31 and duplicates: only
    # `invalid` and `duplicate` grow, memory stays put, the stream plays.
    started = time.monotonic()
    receiver = Receiver([])
    try:
        junk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        to = ('127.0.0.1', receiver.port)
        sizes = [0, 1, 4, 12, 13, 652, 653, 654, 816, 979, 980, 2048, 65000]
        garbage = n(20000)
        for i in range(garbage):
            size = sizes[i % len(sizes)] if i % 3 else rng.randrange(0, 1200)
            data = bytes(rng.getrandbits(8) for _ in range(min(size, 64))) * (size // 64 + 1)
            if i % 2:
                # The magic, then K = 255: never a valid datagram by chance
                # (one from this socket would make it the stream's sender).
                data = b'SLRT' + data[:8] + b'\xff' + data
            try:
                junk.sendto(data[:size], to)
            except OSError:
                pass  # ENOBUFS under the flood: that one is not sent
        before = receiver.rss_kb()
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

        def hostile(sock, seq):
            sock.sendto(realtime_datagram(seq), to)  # a duplicate of each
            sock.sendto(realtime_datagram(seq + (1 << 31)), to)  # a forged jump
            stranger.sendto(realtime_datagram(seq), to)  # another stream
        realtime_stream(receiver.port, 100, hostile)
        after = receiver.rss_kb()
        # A few late frames on a busy machine are fine: most must play.
        realtime_stop(rows, 'garbage, strangers, jumps', receiver, started,
                      lambda c: c['frames'] == '100' and int(c['primary']) >= 90 and int(c['invalid']) >= 200
                      and int(c['duplicate']) >= 90 and after < RSS_LIMIT_KB)
        rows[-1] = rows[-1][:5] + (rows[-1][5] + '; %d garbage sent; RSS %d->%d KB' % (garbage, before, after),)
    finally:
        receiver.kill()

    # A stop before any datagram, while a stream plays, and during a flood.
    started = time.monotonic()
    receiver = Receiver([])
    try:
        realtime_stop(rows, 'SIGTERM before a stream', receiver, started)
    finally:
        receiver.kill()
    started = time.monotonic()
    receiver = Receiver([])
    try:
        realtime_stream(receiver.port, 25)
        realtime_stop(rows, 'SIGTERM while a stream plays', receiver, started, lambda c: int(c['frames']) > 0)
    finally:
        receiver.kill()
    started = time.monotonic()
    receiver = Receiver([])
    going, done = threading.Event(), threading.Event()

    def flood():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(2000000):  # bounded; the stop comes long before
            if done.is_set():
                break
            try:
                sock.sendto(realtime_datagram(i % 1000) if i % 2 else b'flood', ('127.0.0.1', receiver.port))
            except OSError:
                pass
            if i == 10000:
                going.set()
        going.set()
    thread = threading.Thread(target=flood, daemon=True)
    try:
        thread.start()
        going.wait(10)
        realtime_stop(rows, 'SIGTERM during a flood', receiver, started)
    finally:
        done.set()
        thread.join(5)
        receiver.kill()

    # TCP: a length of 4 GB (refused unread, the stream ends by itself),
    # and a sender that trickles a byte every 50 ms (SIGTERM ends it).
    started = time.monotonic()
    receiver = Receiver(['--tcp'])
    try:
        with socket.create_connection(('127.0.0.1', receiver.port), timeout=TIMEOUT) as sock:
            sock.sendall(struct.pack('!I', 0xFFFFFFF0) + b'x' * 1000)
            try:
                code = receiver.proc.wait(10)
            except subprocess.TimeoutExpired:
                code = None
        said = any('more than any datagram' in line for line in receiver.stderr)
        row(rows, 'udp-realtime receive --tcp', 'a 4 GB length', 1, time.monotonic() - started,
            code == 0 and said and not receiver.panicked() and receiver.counters() is not None,
            'exit %s; refused, said so: %s' % (code, said))
    finally:
        receiver.kill()
    started = time.monotonic()
    receiver = Receiver(['--tcp'])
    try:
        with socket.create_connection(('127.0.0.1', receiver.port), timeout=TIMEOUT) as sock:
            for _ in range(10):
                sock.send(b'\0')
                time.sleep(0.05)  # the trickle rate (the attack), not synchronisation
            realtime_stop(rows, 'SIGTERM while a sender trickles', receiver, started)
    finally:
        receiver.kill()

    # Closed pipes. The receiver whose stdout is gone says so when its
    # counters cannot be printed (exit 1); one whose stderr is gone plays on.
    for closed in ['stdout', 'stderr']:
        started = time.monotonic()
        receiver = Receiver([], closed)
        try:
            realtime_stream(receiver.port, 10)
            code, seconds = realtime_end(receiver), 0
            if closed == 'stdout':
                said = any('writing to stdout' in line for line in receiver.stderr)
                held, detail = code == 1 and said, 'exit %s, said it: %s (wanted exit 1)' % (code, said)
            else:
                counters = receiver.counters()
                held = code == 0 and counters is not None and counters.get('primary') == '10'
                detail = 'exit %s; %s' % (code, counters)
            row(rows, 'udp-realtime receive', 'closed %s' % closed, 10, time.monotonic() - started, held, detail)
        finally:
            receiver.kill()
    receiver = Receiver([])
    try:
        send = [path('udp-realtime'), 'send', '--seconds', '0.2', '--port', str(receiver.port)]
        for closed in ['stdout', 'stderr']:
            started = time.monotonic()
            code, text = run_closed(send, closed)
            held = code == (1 if closed == 'stdout' else 0) and 'panicked' not in text
            if closed == 'stdout':
                held = held and 'writing to stdout' in text
            row(rows, 'udp-realtime send', 'closed %s' % closed, 1, time.monotonic() - started, held,
                'exit %s %s' % (code, text.strip()[-80:]))
    finally:
        receiver.kill()


# ---- http-basics: smuggling, traversal, a pool held by stalled clients, a hostile server ----

def http_status(sock, wait=3.0):
    """Reads until the peer closes or `wait` passes; returns the status
    codes of the responses seen and all the bytes."""
    sock.settimeout(wait)
    data = b''
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    return [int(c) for c in re.findall(rb'HTTP/1\.1 (\d{3}) ', data)], data


def probe_http(server, timeout=5):
    with connect(server, timeout=timeout) as sock:
        sock.sendall(b'GET /hello.txt HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n')
        codes, data = http_status(sock, timeout)
    return codes == [200] and b'Hello from http-basics' in data


HIDDEN = b'GET /hello.txt HTTP/1.1\r\nHost: soak\r\n\r\n'
SMUGGLING = {
    'CL+TE': b'POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'two CLs': b'POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    'TE chunked, identity': b'POST /echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    'obs-fold': b'POST /echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n',
    'bare LF': b'POST /echo HTTP/1.1\nHost: s\nContent-Length: 5\n\nabcde',
    'space before colon': b'POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length : 5\r\n\r\nabcde',
    'CL hex': b'POST /echo HTTP/1.1\r\nHost: s\r\nContent-Length: 0x5\r\n\r\nabcde',
    'chunk size overflow': b'POST /echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n',
    'chunk bare LF': b'POST /echo HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked\r\n\r\n5\nabcde\n0\n\n',
}


def http_smuggling(rows):
    """Every ambiguous framing is refused and the connection closed, so the
    request hidden behind it is never answered; the server serves on."""
    server = Server('http-basics', ['http-basics', 'server', '--quiet'])
    started = time.monotonic()
    try:
        answered = []
        for name, shape in SMUGGLING.items():
            with connect(server) as sock:
                sock.sendall(shape + HIDDEN)
                codes, _ = http_status(sock)
            if len(codes) != 1 or codes[0] not in (400, 413, 501):
                answered.append('%s: %s' % (name, codes))
        held = not answered and probe_http(server) and not server.panicked()
        row(rows, 'http-basics', 'smuggling shapes refused, nothing hidden answered', len(SMUGGLING),
            time.monotonic() - started, held, '; '.join(answered) or 'each one status, then closed')
    finally:
        server.kill()


def http_traversal(rows):
    """No request reads a file outside --root: encoded dots and slashes, NUL,
    backslashes, absolute-form targets, symlinks out, a root that is a link."""
    base = tempfile.mkdtemp(prefix='soak-http-')
    try:
        www = os.path.join(base, 'www')
        os.makedirs(os.path.join(www, 'sub'))
        with open(os.path.join(www, 'index.html'), 'w') as f:
            f.write('index\n')
        with open(os.path.join(base, 'secret.txt'), 'w') as f:
            f.write('SOAK-SECRET\n')
        os.symlink(os.path.join(base, 'secret.txt'), os.path.join(www, 'out'))
        os.symlink('../secret.txt', os.path.join(www, 'sub', 'rel'))
        os.symlink(www, os.path.join(base, 'link-root'))
        targets = [b'/../secret.txt', b'/%2e%2e/secret.txt', b'/%2E%2e%2fsecret.txt', b'/sub/..%2f..%2fsecret.txt',
                   b'/..\\secret.txt', b'/%5c..%5csecret.txt', b'/out', b'/sub/rel', b'//../secret.txt',
                   b'http://soak/../secret.txt', b'/index.html%00/../../secret.txt', b'/sub/.%2e/.%2e/secret.txt']
        for root, env in [(www, {}), (os.path.join(base, 'link-root'), {}), (www, {'HTTP_BASICS_NO_OPENAT2': '1'})]:
            started = time.monotonic()
            old = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                server = Server('http-basics', ['http-basics', 'server', '--quiet', '--root', root])
            finally:
                for k, v in old.items():
                    if v is None:
                        os.environ.pop(k, None)
            try:
                leaked = []
                for target in targets:
                    with connect(server) as sock:
                        sock.sendall(b'GET ' + target + b' HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n')
                        codes, data = http_status(sock)
                    if b'SOAK-SECRET' in data or codes == [200]:
                        leaked.append('%s: %s' % (target.decode(), codes))
                label = 'no path out of the root%s%s' % (' (root is a symlink)' if 'link' in root else '',
                                                         ' (without openat2)' if env else '')
                row(rows, 'http-basics', label, len(targets), time.monotonic() - started, not leaked,
                    '; '.join(leaked) or 'every one 400, 403 or 404')
            finally:
                server.kill()
    finally:
        subprocess.run(['rm', '-rf', base])


def http_pool_held(rows):
    """--workers 4, held by 4 silent connections, 4 slowloris heads and 4
    clients that ask again every 20 ms on kept connections: a newcomer must
    still be served within 2 s, not after --idle-timeout (30 s)."""
    server = Server('http-basics', ['http-basics', 'server', '--quiet', '--workers', '4'])
    stop = threading.Event()
    started = time.monotonic()
    socks = []

    def busy():
        sock = None
        for _ in range(1000):  # at most 20 s
            if stop.is_set():
                break
            try:
                sock = sock or connect(server)
                sock.sendall(b'GET /hello.txt HTTP/1.1\r\nHost: s\r\n\r\n')
                head = b''
                while b'\r\n\r\n' not in head:
                    head += sock.recv(4096)
                if b'Connection: close' in head:
                    sock.close()
                    sock = None  # as a browser would: a new connection next time
            except OSError:
                sock = None
            stop.wait(0.02)  # the client's pace (the attack), not synchronisation

    try:
        for i in range(8):
            sock = connect(server)
            if i % 2:
                sock.sendall(b'GET / HTTP/1.1\r\nHo')  # half a head, then silence
            socks.append(sock)
        threads = [threading.Thread(target=busy, daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(0.5)  # let them take the workers (the scenario's setup), not synchronisation
        t0 = time.monotonic()
        served = probe_http(server, timeout=10)
        took = time.monotonic() - t0
        row(rows, 'http-basics', 'newcomer served past silent, slowloris and busy clients', 13,
            time.monotonic() - started, served and took < 2 and not server.panicked(),
            'served: %s in %.2f s (wanted under 2 s)' % (served, took))
    finally:
        stop.set()
        for sock in socks:
            sock.close()
        server.kill()


def http_stops(rows):
    """SIGTERM while a head trickles, and while a body streams in."""
    stop_while(rows, 'http-basics', ['http-basics', 'server'],
               trickler(b'GET /hello.txt HTTP/1.1\r\nHost: soak\r\nX-Slow: ' + b'y' * 400),
               'a head trickles a byte every 50 ms')
    stop_while(rows, 'http-basics', ['http-basics', 'server', '--max-body', '1073741824'],
               streamer(b'POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 1073741824\r\n\r\n'),
               'a 1 GB body streams in')


def fake_http(answer):
    """A server that answers every connection's first request with `answer`
    (bytes, or a function of the socket), for at most 20 s; returns its port."""
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    listener.settimeout(20)

    def serve():
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with sock:
                sock.settimeout(5)
                try:
                    head = b''
                    while b'\r\n\r\n' not in head:
                        head += sock.recv(4096) or b'\r\n\r\n'
                    if callable(answer):
                        answer(sock)
                    else:
                        sock.sendall(answer)
                        time.sleep(0.2)  # the connection stays open for the client's next request
                except OSError:
                    pass
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def http_client_against_hostile_servers(rows):
    def endless_interim(sock):
        for _ in range(100000):  # bounded: a few seconds of 1xx heads at most
            sock.sendall(b'HTTP/1.1 100 Continue\r\n\r\n')

    def endless_chunks(sock):
        sock.sendall(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')
        for _ in range(100000):  # bounded: 400 MB at most; --max-body stops the client first
            sock.sendall(b'1000\r\n' + b'z' * 4096 + b'\r\n')

    forged = (b'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfirst\n'
              b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nforged\n')
    cases = [
        ('endless 100 Continue', endless_interim, 1, None),
        ('bytes past a response forge the next one', forged, 0, b'forged'),
        ('a redirect loop', b'HTTP/1.1 302 Found\r\nLocation: /again\r\nContent-Length: 0\r\n\r\n', 1, None),
        ('a redirect to file://', b'HTTP/1.1 301 Moved\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n', 1, None),
        ('an endless chunked body', endless_chunks, 1, None),
    ]
    for label, answer, want, never in cases:
        started = time.monotonic()
        port = fake_http(answer)
        url = 'http://127.0.0.1:%d/' % port
        cmd = [path('http-basics'), 'get', '--follow', '--timeout', '2', '--max-body', '100000', url, url + 'b']
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=30)
            code, out, err = proc.returncode, proc.stdout, proc.stderr.decode(errors='replace')
        except subprocess.TimeoutExpired:
            code, out, err = None, b'', 'still running after 30 s'
        held = code == want and (never is None or never not in out) and 'panicked' not in err
        row(rows, 'http-basics client', label, 1, time.monotonic() - started, held,
            'exit %s (wanted %s); %s' % (code, want, err.strip().splitlines()[-1][:90] if err.strip() else 'stdout %r' % out[:30]))


def http_basics(rows):
    for scenario in [http_smuggling, http_traversal, http_pool_held, http_stops, http_client_against_hostile_servers]:
        scenario(rows)


def run(rows):
    for scenario in [closed_pipes, closed_pipes_clients, stuck_stderr, ipv6, stops, lossy_stop, cli_extremes, udp_loops,
                     pinned_pool, framing_client, large_limits, resolver_odd_names, threaded_bursts,
                     closed_stderr_small_pool, over_limit_resets, stop_with_a_slow_reader, threaded_memory, realtime,
                     http_basics]:
        started = time.monotonic()
        try:
            scenario(rows)
        except Exception as e:  # a scenario that crashes is a failed row, not a crashed suite
            row(rows, 'suite', scenario.__name__, 0, time.monotonic() - started, False, '%s: %s' % (type(e).__name__, e))


if __name__ == '__main__':
    # Re-entered by lossy_stop inside a fresh network namespace.
    if '--lossy' in sys.argv:
        inside_lossy_namespace(int(sys.argv[sys.argv.index('--lossy') + 1]))
