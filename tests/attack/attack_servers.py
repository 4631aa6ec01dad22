#!/usr/bin/env python3
"""Attack suite for the example servers: echo_server, echo_server_protocol
and kv_server, attacked by hostile clients over loopback (127.0.0.1).

After each attack the server must still answer a fresh client and give its
file descriptors back; at the end it must stop on SIGINT with an expected
exit status and a stderr free of sanitizer reports and terminate().

Two defects of the library are the reason it exists: a reset arriving
together with data used to strand a waiting readline() for ever (one stuck
handler, socket and buffer per such client: partial_reset), and accept() at
the descriptor limit used to freeze the loop, spinning at 100 % CPU and
serving nobody (fd_limit).

Linux only (it measures the server through /proc), standard library only,
and every loop and wait is bounded in count and time.

A second path after a comma is the build of the same server that fd_limit
runs: under UBSan, one built without the dynamic type check (vptr), which
probes memory through a pipe the first time it meets a type, so that with
every descriptor taken on purpose it reports a false "invalid vptr" (as
tests/test_fd_limits.cpp, which links the same library build).

usage: attack_servers.py --server echo=PATH/echo_server[,PATH/echo_server_novptr]
                         --server protocol=PATH/echo_server_protocol
                         --server kv=PATH/kv_server
                         [--only ATTACK[,ATTACK...]] [--scale 1.0]
                         [--expect-exit 0,130]
"""

import argparse
import os
import random
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
KIB = 1024
MIB = 1024 * KIB
READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE

STDERR_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                  "Task was destroyed but it is pending", "terminate called")
ACCEPT_REPORT = "socket.accept() out of system resource"
MAX_ACCEPT_REPORTS = 20
FD_LIMIT = 48
LINE_TOO_LONG = b"ERROR line too long\n"

# The same payloads on every run.
RNG = random.Random(20240610)


class AttackFailed(Exception):
    """A check that did not hold; the message gives the figures."""


def check(condition, message):
    if not condition:
        raise AttackFailed(message)


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def add_option(env, variable, name, value):
    """Adds name=value to a sanitizer's options unless the caller set it."""
    options = env.get(variable, "")
    if name + "=" not in options:
        env[variable] = ":".join(filter(None, (options, f"{name}={value}")))


def server_env():
    """The environment for a server. Under ASan, freed memory waits in a
    256 MiB quarantine before reuse, which would read as RSS growth: a small
    quarantine keeps the RSS checks meaningful."""
    env = dict(os.environ)
    add_option(env, "ASAN_OPTIONS", "quarantine_size_mb", 4)
    return env


def describe_status(rc):
    """A Popen return code as a shell would show it: 134 (SIGABRT)."""
    if rc is None:
        return "none (killed after 15 s)"
    if rc < 0:
        return f"{128 - rc} ({signal.Signals(-rc).name})"
    return str(rc)


class Server:
    """One server process on a free port, measured through /proc and stopped
    with SIGINT."""

    def __init__(self, kind, path, label, scale, nofile=None):
        self.kind, self.path, self.label = kind, path, label
        self.scale, self.nofile = scale, nofile
        self.port = self.pid = self.proc = None
        self.ready = False  # started and listening
        self.interrupted = False  # stopped by SIGINT (not dead before)
        self.baseline = None  # fds once warmed up
        self.stdout = tempfile.TemporaryFile()
        self.stderr = tempfile.TemporaryFile()
        # (fds, rss, peak rss, cpu) once warmed up, and before SIGINT
        self.start_figures = self.end_figures = None

    def scaled(self, count):
        return max(1, round(count * self.scale))

    # ---- /proc
    def fds(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def _status_kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise AttackFailed(f"no {field} in /proc/{self.pid}/status (the server has exited?)")

    def rss_kib(self):
        return self._status_kib("VmRSS")

    def peak_rss_kib(self):
        return self._status_kib("VmHWM")

    def cpu_seconds(self):
        with open(f"/proc/{self.pid}/stat") as f:
            stat = f.read()
        # Field 2, the command, is in parentheses and may hold spaces: the
        # fields after the last ')' start at field 3, so utime (14) and
        # stime (15) are the 12th and 13th of them.
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def figures(self):
        return self.fds(), self.rss_kib(), self.peak_rss_kib(), self.cpu_seconds()

    # ---- life cycle
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _limit_descriptors(self):
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def start(self):
        """Starts the server on a free port (another one if it exits at once)."""
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [self.path, str(self.port)], stdin=subprocess.DEVNULL, stdout=self.stdout,
                stderr=self.stderr, env=server_env(),
                preexec_fn=self._limit_descriptors if self.nofile else None)
            self.pid = self.proc.pid
            if self._wait_ready(time.monotonic() + 15):
                self.ready = True
                return
            if self.running():
                self.kill()
                raise AttackFailed(f"not ready within 15 s on port {self.port}")
        raise AttackFailed(f"exited at start five times (last status {describe_status(self.proc.returncode)})")

    def _wait_ready(self, deadline):
        banner = f"serving on ('{HOST}', {self.port})".encode()
        while time.monotonic() < deadline and self.running():
            if self.kind == "kv":
                self.stdout.seek(0)
                if banner in self.stdout.read():
                    return True
            else:
                try:
                    socket.create_connection((HOST, self.port), timeout=1).close()
                    return True
                except OSError:
                    pass
            time.sleep(0.05)
        return False

    def warm_up(self):
        """One client served, then the fd baseline, once the count is steady."""
        answers(self)
        counts = [self.fds()]
        deadline = time.monotonic() + 3
        while (len(counts) < 6 or len(set(counts[-6:])) > 1) and time.monotonic() < deadline:
            time.sleep(0.05)
            counts.append(self.fds())
        self.baseline = counts[-1]
        self.start_figures = self.figures()

    def stop(self):
        """SIGINT, then up to 15 s to exit; returns the Popen return code
        (None when it had to be killed)."""
        if self.running():
            self.end_figures = self.figures()
            self.proc.send_signal(signal.SIGINT)
            self.interrupted = True
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        """Ends the server at once if it is still running."""
        if self.running():
            self.proc.kill()
            self.proc.wait()

    def stderr_text(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")


# ---- client side -------------------------------------------------------------

def connect(server, timeout=10.0):
    return socket.create_connection((HOST, server.port), timeout=timeout)


def reset(sock):
    """Closes `sock` with a reset (RST) rather than a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def send_some(sock, data):
    """A non-blocking send: the number of bytes the kernel took."""
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0


def recv_until(sock, done, deadline):
    """Reads from a blocking `sock` until done(data) or EOF; returns the
    data. Fails at the deadline."""
    data = bytearray()
    while not done(data):
        remaining = deadline - time.monotonic()
        check(remaining > 0, f"timed out after {len(data)} bytes: {bytes(data[:60])!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(256 * KIB)
        except TimeoutError:
            continue
        if not chunk:
            break
        data += chunk
    return bytes(data)


def request_for(kind):
    """A request and its expected reply: 1 KiB of random bytes to echo, or a
    kv SET then GET of a fresh key."""
    if kind == "kv":
        key, value = f"key{RNG.randrange(10**9)}", f"value{RNG.randrange(10**9)}"
        return f"SET {key} {value}\nGET {key}\n".encode(), f"OK\nVALUE {value}\n".encode()
    payload = RNG.randbytes(KIB)
    return payload, payload


def round_trip(kind, sock, deadline):
    request, expected = request_for(kind)
    sock.sendall(request)
    data = recv_until(sock, lambda d: len(d) >= len(expected), deadline)
    check(data == expected, f"wrong reply {data[:60]!r}, expected {expected[:60]!r}")


def answers(server, timeout=10.0):
    """A fresh client is served correctly within `timeout`."""
    deadline = time.monotonic() + timeout
    with connect(server, timeout) as sock:
        round_trip(server.kind, sock, deadline)


def fds_back(server, what="", timeout=10.0):
    """Waits until the server's fd count is back at its baseline."""
    deadline = time.monotonic() + timeout
    while (count := server.fds()) > server.baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    check(count <= server.baseline,
          f"{what}{count} fds {timeout:g} s after the attack, baseline {server.baseline}")
    return count


# ---- attacks -----------------------------------------------------------------

def partial_reset(server):
    """Connections that send part of a record and reset at once, in 4 rounds:
    RSS must not keep growing (a stranded handler kept ~6.7 KB each).

    A client served after each batch paces the attack to the server's accept
    rate: a slow server (ASan) would otherwise let the listen queue overflow,
    and every dropped SYN costs the attacker a 1 s retransmission."""
    partial = b"SET half" if server.kind == "kv" else b"partial"
    total = server.scaled(1000)
    rss = []
    for round_no in range(1, 5):
        for first in range(0, total, 50):
            batch = [connect(server) for _ in range(min(50, total - first))]
            for sock in batch:
                sock.sendall(partial)
            for sock in batch:
                reset(sock)
            answers(server)  # accepted after the whole batch
        fds_back(server, f"round {round_no}: ")
        rss.append(server.rss_kib())
    growth = rss[-1] - rss[0]
    figures = f"{4 * total} resets, RSS after each round {'/'.join(map(str, rss))} KiB, round 1 to 4 +{growth} KiB"
    check(growth < 8 * KIB, f"{figures} (limit 8192)")
    return figures


def slowloris(server):
    """Many clients trickling one byte every 100 ms for 2 s."""
    count = server.scaled(200)
    if server.kind == "kv":
        message, expected = b"GET slow\n" * 2, b"NOT_FOUND\n" * 2
    else:
        message = expected = RNG.randbytes(20)
    socks = [connect(server) for _ in range(count)]
    start = time.monotonic()
    for i in range(len(message)):
        time.sleep(max(0.0, start + i * 0.1 - time.monotonic()))
        for sock in socks:
            sock.sendall(message[i:i + 1])
    deadline = time.monotonic() + 10
    wrong = []
    for sock in socks:
        data = recv_until(sock, lambda d: len(d) >= len(expected), deadline)
        if data != expected:
            wrong.append(data)
        sock.close()
    figures = f"{count} clients x {len(message)} bytes, one per 100 ms"
    if wrong:
        raise AttackFailed(f"{figures}: {len(wrong)} wrong replies, the first {wrong[0][:60]!r}")
    return figures


def never_reads(server):
    """A client that writes as fast as it can and never reads: the server
    must push back (stop reading) rather than buffer without bound."""
    limit = 64 * KIB
    if server.kind == "kv":
        chunk = b"SET k v\n" * (8 * KIB)
    else:
        chunk = RNG.randbytes(64 * KIB)
    sock = connect(server)
    sock.setblocking(False)
    before = peak = server.rss_kib()
    sent = offset = 0
    start = last_sent = now = time.monotonic()
    with selectors.DefaultSelector() as sel:
        sel.register(sock, WRITE)
        while now - start < 3 and now - last_sent < 1 and peak - before < limit:
            if sel.select(0.05) and (n := send_some(sock, chunk[offset:])):
                sent += n
                offset = (offset + n) % len(chunk)
                last_sent = time.monotonic()
            peak = max(peak, server.rss_kib())
            now = time.monotonic()
    reset(sock)
    state = "send buffer full for 1 s" if now - last_sent >= 1 else "still taking data"
    figures = f"sent {sent / MIB:.1f} MiB in {now - start:.1f} s, {state}, RSS +{peak - before} KiB"
    check(peak - before < limit, f"{figures} (limit {limit}, stopped there)")
    return figures


def reset_mid_write(server):
    """Clients that send a lot, read a little, then reset while the server
    is still writing back."""
    count, a_little = server.scaled(50), 16 * KIB
    payload = b"GET k\n" * 20000 if server.kind == "kv" else RNG.randbytes(MIB)
    view = memoryview(payload)
    socks = [connect(server) for _ in range(count)]
    sent = dict.fromkeys(socks, 0)
    got = dict.fromkeys(socks, 0)
    deadline = time.monotonic() + 20
    last_progress = time.monotonic()
    with selectors.DefaultSelector() as sel:
        for sock in socks:
            sock.setblocking(False)
            sel.register(sock, READ | WRITE)
        while sel.get_map() and time.monotonic() < deadline and time.monotonic() - last_progress < 2:
            for key, events in sel.select(0.1):
                sock = key.fileobj
                before = sent[sock], got[sock]
                if events & WRITE:
                    sent[sock] += send_some(sock, view[sent[sock]:sent[sock] + 256 * KIB])
                if events & READ:
                    data = sock.recv(a_little - got[sock])
                    check(data, f"the server closed a connection after {got[sock]} bytes")
                    got[sock] += len(data)
                if (sent[sock], got[sock]) != before:
                    last_progress = time.monotonic()
                interest = (WRITE if sent[sock] < len(payload) else 0) | (READ if got[sock] < a_little else 0)
                if interest:
                    sel.modify(sock, interest)
                else:
                    sel.unregister(sock)
    for sock in socks:
        reset(sock)
    complete = sum(n == len(payload) for n in sent.values())
    return (f"{count} clients sent {sum(sent.values()) / MIB:.1f} MiB ({complete} sent all "
            f"{len(payload) // KIB} KiB), read {sum(got.values()) // KIB} KiB, then reset")


def half_close(server):
    """Clients that send, shut their side down (SHUT_WR) and read to EOF."""
    count = server.scaled(50)
    if server.kind == "kv":
        payload, expected = b"SET a 1\nGET a\n", b"OK\nVALUE 1\n"
        done = lambda d: False  # only EOF: the server must close after EOF
    else:
        payload = expected = RNG.randbytes(16 * KIB)
        done = lambda d: len(d) >= len(expected)  # EOF or not, the bytes
    socks = [connect(server) for _ in range(count)]
    for sock in socks:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
    deadline = time.monotonic() + 10
    wrong = []
    for sock in socks:
        data = recv_until(sock, done, deadline)
        if data != expected:
            wrong.append(data)
        sock.close()
    figures = f"{count} clients x {len(payload)} bytes then SHUT_WR"
    if wrong:
        raise AttackFailed(f"{figures}: {len(wrong)} wrong replies, the first {wrong[0][:60]!r}")
    return figures


def exchange(server, sock, payload, done, deadline):
    """Sends `payload` while reading the replies, until done(replies) or EOF;
    returns (replies, peak RSS KiB seen meanwhile). Fails at the deadline."""
    view, sent, data = memoryview(payload), 0, bytearray()
    peak = server.rss_kib()
    sock.setblocking(False)
    with selectors.DefaultSelector() as sel:
        sel.register(sock, READ | WRITE)
        while not done(data):
            check(time.monotonic() < deadline,
                  f"timed out: sent {sent} of {len(payload)} bytes, received {len(data)}")
            for _, events in sel.select(0.05):
                if events & WRITE:
                    sent += send_some(sock, view[sent:sent + 256 * KIB])
                    if sent == len(payload):
                        sel.modify(sock, READ)
                if events & READ:
                    chunk = sock.recv(256 * KIB)
                    if not chunk:
                        return bytes(data), peak
                    data += chunk
            peak = max(peak, server.rss_kib())
    return bytes(data), peak


def kv_get_answered(data):
    """True once `data` holds the reply to a GET: a VALUE or NOT_FOUND line."""
    return any(line.startswith((b"VALUE ", b"NOT_FOUND")) for line in data.split(b"\n")[:-1])


def count_lines(data):
    """`data`'s lines, in order of first appearance, with their counts."""
    counts = {}
    for line in data.splitlines():
        counts[line] = counts.get(line, 0) + 1
    return ", ".join(f"{n} x {line[:40]!r}" for line, n in counts.items())


def big_line(server):
    """kv: a 10 MB line, then a newline and GET x: one error, one reply,
    bounded memory. Echo servers: 10 MB echoed back."""
    limit = 64 * KIB
    if server.kind == "kv":
        payload, expected = b"x" * (10 * MIB) + b"\nGET x\n", LINE_TOO_LONG + b"NOT_FOUND\n"
        done = kv_get_answered
    else:
        payload = expected = RNG.randbytes(10 * MIB)
        done = lambda d: len(d) >= len(expected)
    before = server.rss_kib()
    with connect(server) as sock:
        data, peak = exchange(server, sock, payload, done, time.monotonic() + 20)
    if server.kind == "kv":
        got = count_lines(data)
    else:
        got = f"{len(data) / MIB:.1f} MiB back, {'identical' if data == expected else 'DIFFERENT'}"
    figures = f"sent {len(payload) / MIB:.0f} MiB, got {got}, RSS +{peak - before} KiB"
    check(data == expected, f"{figures}; expected {count_lines(expected) if server.kind == 'kv' else 'the payload'}")
    check(peak - before < limit, f"{figures} (limit {limit})")
    return figures


def connect_nonblocking(server):
    sock = socket.socket()
    sock.setblocking(False)
    sock.connect_ex((HOST, server.port))
    return sock


def fd_limit(server):
    """(In a server started with RLIMIT_NOFILE 48.) 200 connections at once:
    the server runs out of descriptors while accepting; it must back off,
    not spin, keep serving the connection it has, and resume afterwards."""
    crowd_size = 200
    with connect(server) as existing:
        round_trip(server.kind, existing, time.monotonic() + 10)
        crowd = [connect_nonblocking(server) for _ in range(crowd_size)]
        cpu_before, start = server.cpu_seconds(), time.monotonic()
        time.sleep(2)
        cpu = server.cpu_seconds() - cpu_before
        window = time.monotonic() - start
        accepted = server.fds() - server.baseline
        round_trip(server.kind, existing, time.monotonic() + 10)
        for sock in crowd:
            sock.close()
    closed = time.monotonic()
    answers(server, timeout=10)
    figures = (f"{crowd_size} connections at once, {accepted} accepted, {cpu:.2f} s CPU in the "
               f"{window:.1f} s after, existing connection answered, a fresh one served "
               f"{time.monotonic() - closed:.1f} s after closing them")
    check(cpu < 0.5, f"{figures} (limit 0.5 s CPU: the loop spins)")
    return figures


ATTACKS = {
    "partial_reset": partial_reset,
    "slowloris": slowloris,
    "never_reads": never_reads,
    "reset_mid_write": reset_mid_write,
    "half_close": half_close,
    "big_line": big_line,
    "fd_limit": fd_limit,
}


# ---- running and reporting ---------------------------------------------------

def report(ok, label, name, text):
    print(f"{'PASS' if ok else 'FAIL'}  {label:<18} {name:<16} {text}", flush=True)
    return ok


def run_attack(server, name):
    """One attack, then: a fresh client is served and the fds are back."""
    start = time.monotonic()
    try:
        check(server.running(), "not attacked")
        figures = ATTACKS[name](server)
        check(server.running(), figures)
        try:
            answers(server)
            count = fds_back(server)
        except (AttackFailed, OSError) as e:
            raise AttackFailed(f"{figures}; afterwards: {e}") from None
        text, ok = f"{figures}; fresh client served, fds {count}/{server.baseline}", True
    except AttackFailed as e:
        text, ok = str(e), False
    except OSError as e:
        text, ok = f"{type(e).__name__}: {e}", False
    if not server.running():
        text += f"; the server is gone (status {describe_status(server.proc.returncode)})"
    return report(ok, server.label, name, f"{text} ({time.monotonic() - start:.1f} s)")


def check_exit(server, status, expected):
    if not server.interrupted:
        return report(False, server.label, "exit", f"exited before SIGINT, status {describe_status(status)}")
    ok = status is not None and (status in expected or (status < 0 and 128 - status in expected))
    allowed = ",".join(map(str, sorted(expected)))
    return report(ok, server.label, "exit", f"status {describe_status(status)} after SIGINT (allowed {allowed})")


def check_stderr(server):
    text = server.stderr_text()
    found = [marker for marker in STDERR_MARKERS if marker in text]
    accept_reports = text.count(ACCEPT_REPORT)
    problems = [f"contains {marker!r}" for marker in found]
    if accept_reports > MAX_ACCEPT_REPORTS:
        problems.append(f"{accept_reports} accept reports (at most {MAX_ACCEPT_REPORTS})")
    ok = report(not problems, server.label, "stderr",
                "; ".join(problems) or f"clean ({accept_reports} accept reports)")
    if not ok:
        for line in text.splitlines()[:40]:
            print(f"      | {line}")
    return ok


def run_process(server, names, expected_exit):
    """Starts `server`, runs the attacks `names` against it in turn, stops
    it; returns (all passed, summary row)."""
    start = time.monotonic()
    try:
        try:
            server.start()
            server.warm_up()
        except (AttackFailed, OSError) as e:
            report(False, server.label, "start", str(e))
            ok = False
        else:
            ok = all([run_attack(server, name) for name in names])
        status = server.stop() if server.proc else None
    finally:
        server.kill()
    if server.ready:
        ok = check_exit(server, status, expected_exit) and ok
    if server.proc:
        ok = check_stderr(server) and ok
    return ok, summary_row(server, status, time.monotonic() - start)


def summary_row(server, status, seconds):
    s, e = server.start_figures, server.end_figures
    fds = f"{s[0] if s else '-'}/{e[0] if e else '-'}"
    rss = f"{s[1] if s else '-'}/{e[2] if e else '-'}/{e[1] if e else '-'}"
    cpu = f"{e[3]:.2f}" if e else "-"
    exit_status = describe_status(status) if server.proc else "not started"
    return f"{server.label:<18} {fds:>9} {rss:>24} {cpu:>7}  {exit_status:<14} {seconds:7.1f}"


def raise_own_fd_limit(wanted=4096):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", action="append", required=True, metavar="KIND=PATH[,FD_LIMIT_PATH]",
                        help="a server to attack: KIND is echo, protocol or kv (repeatable); "
                             "FD_LIMIT_PATH, the build that fd_limit runs (default: PATH)")
    parser.add_argument("--only", metavar="ATTACK[,ATTACK...]",
                        help=f"run only these attacks, of: {', '.join(ATTACKS)}")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the connection counts")
    parser.add_argument("--expect-exit", default="0,130", metavar="N[,N...]",
                        help="allowed exit statuses after SIGINT; a death by signal S matches 128+S "
                             "or -S (default 0,130)")
    args = parser.parse_args(argv)
    servers = []
    for spec in args.server:
        kind, sep, paths = spec.partition("=")
        if not sep or kind not in ("echo", "protocol", "kv"):
            parser.error(f"--server {spec!r}: want KIND=PATH with KIND echo, protocol or kv")
        path, _, fd_limit_path = paths.partition(",")
        servers.append((kind, path, fd_limit_path or path))
    names = list(ATTACKS) if not args.only else args.only.split(",")
    unknown = [name for name in names if name not in ATTACKS]
    if unknown:
        parser.error(f"unknown attacks: {', '.join(unknown)}")
    if args.scale <= 0:
        parser.error("--scale must be positive")
    expected = {int(n) for n in args.expect_exit.split(",")}
    return servers, [n for n in ATTACKS if n in names], args.scale, expected


def main(argv):
    servers, names, scale, expected_exit = parse_args(argv)
    raise_own_fd_limit()
    rows, ok = [], True
    for kind, path, fd_limit_path in servers:
        processes = []
        shared = [n for n in names if n != "fd_limit"]
        if shared:
            processes.append((Server(kind, path, kind, scale), shared))
        if "fd_limit" in names:
            processes.append((Server(kind, fd_limit_path, f"{kind}/fd_limit", scale, nofile=FD_LIMIT), ["fd_limit"]))
        for server, attacks in processes:
            passed, row = run_process(server, attacks, expected_exit)
            ok = ok and passed
            rows.append(row)
    print()
    print(f"{'server':<18} {'fds':>9} {'RSS KiB start/peak/end':>24} {'CPU s':>7}  {'exit':<14} {'time s':>7}")
    for row in rows:
        print(row)
    print(f"\n{'all checks passed' if ok else 'SOME CHECKS FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
