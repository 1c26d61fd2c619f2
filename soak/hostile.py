#!/usr/bin/env python3
"""The hostile-peer suite behind `make soak`.

For every lesson server: start it (release build) on port 0, read its
`listening on` line, throw hostile peers at it, then check that it is still
up, still serves a well-behaved client correctly, kept its memory bounded
and never panicked. Every loop is bounded in count and in time, every
socket has a timeout, and all traffic stays on loopback. Ends with one
table; exits 1 if anything did not hold.

Then the promises every lesson makes (soak/promises.py: closed pipes, IPv6,
stops, CLI extremes, spoofed UDP loops...), in the same table.

Usage: soak/hostile.py BIN_DIR [--quick] [--hostile-only]

--quick (CI's short form, `make soak SOAK_QUICK=1`) runs every scenario
with a fifth of the rounds, and shows the failed rows listed in
EXPECTED_IN_QUICK without counting them.
"""
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

BIN = sys.argv[1]
QUICK = '--quick' in sys.argv
SCALE = 0.2 if QUICK else 1.0
TIMEOUT = 5.0
RSS_LIMIT_KB = 64 * 1024
rows = []  # (server, scenario, count, seconds, held, detail)

# Rows known to fail while a lesson is reworked on its own branch. In the
# quick run only (CI), a row listed here is still run and shown, but not
# counted; the full `make soak` counts it. Empty now: framing's rework
# landed, and the nine rows of it listed here (its stop while a client
# streams, its closed stdout, its client's claims of success, netstring
# headers that allocated what they claimed, upper-server's overflowing
# --max-connection-secs) all hold. A row listed that holds says so.
EXPECTED_IN_QUICK = [
    # ('framing client', 'a server on another strategy'),
]


def n(count):
    return max(1, int(count * SCALE))


class Server:
    """A lesson server on port 0; killed when the suite ends."""

    def __init__(self, name, args, nofile=None):
        self.name = name
        cmd = [os.path.join(BIN, args[0])] + args[1:] + ['--port', '0']
        preexec = None
        if nofile:
            import resource

            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, preexec_fn=preexec)
        self.stderr = []
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr), daemon=True).start()
        line = self._first_line()
        match = re.fullmatch(r'listening on (\S+):(\d+)\n', line)
        if not match:
            self.proc.kill()
            raise RuntimeError('%s: first line %r' % (name, line))
        self.host, self.port = match.group(1).strip('[]'), int(match.group(2))
        threading.Thread(target=self._drain, args=(self.proc.stdout, []), daemon=True).start()

    def _first_line(self):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline().decode()), daemon=True)
        reader.start()
        reader.join(10)
        return result[0] if result else ''

    @staticmethod
    def _drain(pipe, sink):
        for line in pipe:
            sink.append(line.decode(errors='replace').rstrip('\n'))

    def rss_kb(self):
        try:
            with open('/proc/%d/status' % self.proc.pid) as status:
                for line in status:
                    if line.startswith('VmRSS:'):
                        return int(line.split()[1])
        except OSError:
            return -1
        return -1

    def alive(self):
        return self.proc.poll() is None

    def panicked(self):
        return any('panicked' in line for line in self.stderr)

    def stop(self, sig=signal.SIGTERM):
        started = time.monotonic()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = None
        return code, time.monotonic() - started

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def connect(server, timeout=TIMEOUT):
    sock = socket.create_connection((server.host, server.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def reset(sock):
    """close() with SO_LINGER 0: the peer gets RST, not FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    sock.close()


def recvall(sock, length):
    data = b''
    while len(data) < length:
        more = sock.recv(length - len(data))
        if not more:
            raise EOFError('closed after %d of %d bytes' % (len(data), length))
        data += more
    return data


# ---- what a well-behaved client of each protocol does ------------------

def probe_echo(server, timeout=15):
    with connect(server, timeout) as sock:
        sock.sendall(b'still there?')
        return recvall(sock, 12) == b'still there?'


def probe_line(server, timeout=15):
    with connect(server, timeout) as sock:
        sock.sendall(b'still there?\n')
        return recvall(sock, 13) == b'still there?\n'


def probe_length(server, timeout=15):
    with connect(server, timeout) as sock:
        sock.sendall(struct.pack('!I', 12) + b'still there?' + struct.pack('!I', 0))
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(1) == b''  # the server closes once it has the end frame


def probe_netstring(server, timeout=15):
    with connect(server, timeout) as sock:
        sock.sendall(b'12:still there?,')
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(1) == b''


def probe_delimited(server, timeout=15):
    with connect(server, timeout) as sock:
        sock.sendall(b'still there?\n')
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(1) == b''


def probe_zen(server, timeout=15):
    with connect(server, timeout) as sock:
        sock.sendall(b'Beautiful is better than?')
        answer = b''
        while not answer.endswith(b'.') and len(answer) < 100:
            more = sock.recv(100)
            if not more:
                return False
            answer += more
        return answer == b'Ugly.'


def probe_udp(server, timeout=5):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.5)
    sock.connect((server.host, server.port))
    try:
        for _ in range(int(timeout / 0.5)):
            sock.send(b'still there?')
            try:
                return sock.recv(100) == b'Your data was 12 bytes long'
            except socket.timeout:
                continue
        return False
    finally:
        sock.close()


# ---- the hostile peers ---------------------------------------------------

def run_parallel(count, worker, threads=16, deadline=30):
    """Runs worker(i) for i in range(count) on a few threads, within deadline."""
    stop_at = time.monotonic() + deadline
    counter = iter(range(count))
    lock = threading.Lock()
    done = [0]

    def loop():
        while time.monotonic() < stop_at:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            try:
                worker(i)
            except OSError:
                pass  # the server is allowed to refuse or reset a hostile peer
            with lock:
                done[0] += 1

    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(deadline + 5)
    return done[0]


def flood_close(server):
    return run_parallel(n(3000), lambda i: connect(server).close())


def flood_reset(server):
    def worker(i):
        sock = connect(server)
        sock.sendall(b'x' * (i % 50))
        reset(sock)
    return run_parallel(n(3000), worker)


def mid_message(partial):
    def scenario(server):
        def worker(i):
            sock = connect(server)
            sock.sendall(partial)
            if i % 2:
                reset(sock)  # RST in the middle of a frame
            else:
                sock.shutdown(socket.SHUT_WR)  # EOF in the middle of a frame
                try:
                    sock.recv(100)
                except OSError:
                    pass
                sock.close()
        return run_parallel(n(400), worker)
    return scenario


def slowloris(server):
    """Connections that send nothing, or trickle a byte now and then."""
    socks = []
    for i in range(n(60)):
        try:
            socks.append(connect(server))
        except OSError:
            break
    end = time.monotonic() + 4
    while time.monotonic() < end:
        for sock in socks[::2]:
            try:
                sock.send(b'a')
            except OSError:
                pass
        time.sleep(0.5)  # the trickle rate (this is the attack, not synchronisation)
    for sock in socks:
        sock.close()
    return len(socks)


def trickle_during(server, probe):
    """One client trickling a byte every 0.5 s (never idle) while a
    well-behaved client waits: a one-at-a-time server must cut the trickler
    off (--max-connection-secs) and serve the other."""
    trickler = connect(server)
    done = threading.Event()

    def trickle():
        for _ in range(40):  # at most 20 s
            if done.is_set():
                return
            try:
                trickler.send(b'1')
            except OSError:
                return  # cut off: what we want
            done.wait(0.5)  # the trickle rate (the attack), not synchronisation

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        served = probe(server, timeout=15)
    finally:
        done.set()
        thread.join(5)
        trickler.close()
    if not served:
        raise RuntimeError('a client was not served while another trickled')
    return 1


def never_read(server, probe):
    """Clients that send a lot and never read what the server sends back.
    While they still hold their connections open, a well-behaved client
    must be served: the server has to drop them on its own (write
    timeout), not wait for them to leave."""
    holders = []
    for _ in range(n(8)):
        sock = connect(server, timeout=1)
        chunk = b'never read this\n' * 4096  # 64 KiB
        try:
            for _ in range(4096):  # at most 256 MiB; the send blocks long before
                sock.sendall(chunk)
        except OSError:
            pass  # our send blocked for 1 s (buffers full) or the server closed
        holders.append(sock)
    try:
        served = probe(server, timeout=20)
    finally:
        for sock in holders:
            reset(sock)
    if not served:
        raise RuntimeError('a client was not served while non-readers held on')
    return len(holders)


def many_idle(probe):
    """Thousands of connections held open and idle (one question asked on
    each) while a well-behaved client must still be served: what an event
    loop is for. RSS is checked after, as for every scenario."""
    def scenario(server):
        held = []
        try:
            for _ in range(n(3000)):
                try:
                    held.append(connect(server, timeout=5))
                except OSError:
                    break
            if len(held) < n(3000):
                raise RuntimeError('only %d connections accepted' % len(held))
            if not probe(server):
                raise RuntimeError('a client was not served while %d were held' % len(held))
            return len(held)
        finally:
            for sock in held:
                sock.close()
    return scenario


def oversized(payload):
    def scenario(server):
        def worker(i):
            sock = connect(server)
            try:
                sock.sendall(payload)
                sock.recv(100)
            except OSError:
                pass
            sock.close()
        return run_parallel(n(50), worker)
    return scenario


def garbage(server):
    def worker(i):
        rng = random.Random(i)
        sock = connect(server)
        try:
            sock.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 4096))))
            sock.shutdown(socket.SHUT_WR)
            sock.recv(100000)
        except OSError:
            pass
        sock.close()
    return run_parallel(n(300), worker)


def udp_garbage(server):
    """Random datagrams of every size. A new source socket every 8 datagrams:
    the server answers each sender at most --rate-limit (10) times a second,
    and the point here is its receive path, not its budget."""
    rng = random.Random(1)
    sent = 0
    sock = None
    for i in range(n(3000)):
        if i % 8 == 0:
            if sock:
                sock.close()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        size = rng.choice([0, 1, 100, 1472, 9000, 65507, rng.randrange(0, 65508)])
        try:
            sock.sendto(rng.randbytes(size), (server.host, server.port))
            sent += 1
        except OSError:
            pass
    sock.close()
    return sent


def fd_exhaustion(server):
    """More clients than the server has descriptors (it runs under ulimit -n 64)."""
    socks = []
    for _ in range(100):
        try:
            socks.append(connect(server, timeout=2))
        except OSError:
            break
    time.sleep(1)  # let the server hit EMFILE on accept and back off (the attack holds)
    for sock in socks:
        sock.close()
    return len(socks)


# ---- running it -----------------------------------------------------------

def check(server, scenario_name, scenario, probe):
    before = server.rss_kb()
    started = time.monotonic()
    try:
        count = scenario(server)
        error = ''
    except Exception as e:  # a scenario that crashes is reported, not fatal
        count, error = 0, '%s: %s' % (type(e).__name__, e)
    seconds = time.monotonic() - started
    after = server.rss_kb()
    problems = []
    if error:
        problems.append(error)
    if not server.alive():
        problems.append('server died (exit %s)' % server.proc.returncode)
    else:
        try:
            if not probe(server):
                problems.append('probe got a wrong answer')
        except Exception as e:
            problems.append('probe failed: %s' % e)
    if after > RSS_LIMIT_KB:
        problems.append('RSS %d KB' % after)
    if server.panicked():
        problems.append('panicked')
    rows.append((server.name, scenario_name, count, seconds, not problems,
                 '%d->%d KB %s' % (before, after, '; '.join(problems))))


def sigterm_under_load(name, args, probe_load):
    server = Server(name, args)
    stop_load = threading.Event()

    def load():
        while not stop_load.is_set():
            try:
                probe_load(server, timeout=2)
            except Exception:
                pass

    loaders = [threading.Thread(target=load, daemon=True) for _ in range(8)]
    for thread in loaders:
        thread.start()
    time.sleep(1)  # let the load build up (load duration, not synchronisation)
    code, seconds = server.stop(signal.SIGTERM)
    stop_load.set()
    held = code == 0 and seconds < 2 and not server.panicked()
    rows.append((name, 'sigterm-under-load', 8, seconds, held, 'exit %s in %.2f s' % (code, seconds)))
    server.kill()


def suite(name, args, probe, scenarios):
    server = Server(name, args)
    try:
        scenarios = scenarios + [('never-read', lambda server: never_read(server, probe)),
                                 ('trickle-during', lambda server: trickle_during(server, probe))]
        for scenario_name, scenario in scenarios:
            check(server, scenario_name, scenario, probe)
        code, seconds = server.stop(signal.SIGTERM)
        rows.append((name, 'clean exit', 1, seconds, code == 0, 'exit %s' % code))
    finally:
        server.kill()
    limited = Server(name + ' (ulimit -n 64)', args, nofile=64)
    try:
        check(limited, 'fd-exhaustion', fd_exhaustion, probe)
        backoffs = sum(1 for line in limited.stderr if 'pausing new connections' in line)
        row = rows[-1]
        rows[-1] = row[:5] + (row[5] + ' (EMFILE backoffs: %d)' % backoffs,)
    finally:
        limited.kill()
    sigterm_under_load(name, args, probe)


def main():
    # 1000 clients at once (promises.py's memory rows) need more descriptors
    # than a common soft limit of 1024, here and in the servers, which
    # inherit the limit: raise it to 4096 where the hard limit allows.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    common = [('flood-close', flood_close), ('flood-reset', flood_reset),
              ('slowloris', slowloris), ('garbage', garbage)]
    suite('tcp-echo', ['tcp-echo', 'server', '--idle-timeout', '2', '--max-connection-secs', '3'], probe_echo,
          common + [('mid-message-reset/eof', mid_message(b'half a mess'))])
    for mode in ['pool', 'thread']:
        suite('tcp-threaded --mode ' + mode,
              ['tcp-threaded', 'server', '--mode', mode, '--idle-timeout', '2'], probe_line,
              common + [('mid-line-reset/eof', mid_message(b'half a line')),
                        ('oversized-line', oversized(b'y' * (1 << 20)))])
    suite('framing length', ['framing', 'server', '--strategy', 'length', '--idle-timeout', '2', '--max-connection-secs', '3'], probe_length,
          common + [('mid-frame-reset/eof', mid_message(struct.pack('!I', 1000) + b'only ten b')),
                    ('oversized-length', oversized(struct.pack('!I', 0xFFFFFFFF)))])
    suite('framing netstring', ['framing', 'server', '--strategy', 'netstring', '--idle-timeout', '2', '--max-connection-secs', '3'],
          probe_netstring,
          common + [('mid-frame-reset/eof', mid_message(b'1000:only ten b')),
                    ('oversized-netstring', oversized(b'999999999999:'))])
    suite('framing delimiter', ['framing', 'server', '--strategy', 'delimiter', '--idle-timeout', '2', '--max-connection-secs', '3'],
          probe_delimited,
          common + [('mid-line-reset/eof', mid_message(b'no newline yet')),
                    ('oversized-line', oversized(b'z' * (1 << 20)))])
    suite('event-loop', ['event-loop', 'server', '--idle-timeout', '2'], probe_zen,
          common + [('mid-question-reset/eof', mid_message(b'Beautiful is')),
                    ('oversized-question', oversized(b'y' * (1 << 20))),
                    ('many-idle', many_idle(probe_zen))])
    suite('event-loop echo --loops 2',
          ['event-loop', 'server', '--protocol', 'echo', '--loops', '2', '--idle-timeout', '2'], probe_line,
          common + [('mid-line-reset/eof', mid_message(b'half a line')),
                    ('oversized-line', oversized(b'y' * (1 << 20))),
                    ('many-idle', many_idle(probe_line))])
    udp = Server('udp-datagrams', ['udp-datagrams', 'server'])
    try:
        check(udp, 'udp-garbage', udp_garbage, probe_udp)
        code, seconds = udp.stop(signal.SIGTERM)
        rows.append(('udp-datagrams', 'clean exit', 1, seconds, code == 0, 'exit %s' % code))
    finally:
        udp.kill()

    if '--hostile-only' not in sys.argv:
        import promises  # the promises every lesson makes (soak/promises.py)
        promises.run(rows)

    return table(rows)


def table(rows):
    """Prints the one table of the run and its closing line; the exit code."""
    expected = set(EXPECTED_IN_QUICK) if QUICK else set()
    width = max(len(r[0]) for r in rows)
    swidth = max(len(r[1]) for r in rows)
    print('%-*s  %-*s %7s %8s  %-8s %s' % (width, 'server', swidth, 'scenario', 'count', 'seconds', 'held',
                                          'detail (RSS before->after, problems)'))
    failed = known = 0
    for server, scenario, count, seconds, held, detail in rows:
        detail = ' / '.join(part for part in detail.splitlines() if part.strip())  # one line per row
        if held:
            verdict = 'held'
            if (server, scenario) in expected:
                detail += ' [listed in EXPECTED_IN_QUICK, yet held: remove it from the list]'
        elif (server, scenario) in expected:
            verdict, known = 'EXPECTED', known + 1
            detail += ' [expected while reworked: EXPECTED_IN_QUICK]'
        else:
            verdict, failed = 'FAILED', failed + 1
        print('%-*s  %-*s %7d %8.2f  %-8s %s' % (width, server, swidth, scenario, count, seconds, verdict, detail))
    passed = len(rows) - failed - known
    print('%d passed, %d failed' % (passed, failed) + (' (%d expected failures not counted: --quick)' % known if known else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # Ctrl-C: every scenario kills its servers on the way out (finally).
        print('soak interrupted', file=sys.stderr)
        sys.exit(130)
