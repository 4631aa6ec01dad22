#!/usr/bin/env python3
"""mini-redis checked with the real clients: redis-cli and redis-benchmark
(Debian's redis-tools), on one loop and on two shards.

    test_mini_redis.py PATH/TO/mini_redis [--python TWIN.py]

With --python, runs the same checks against the Python twin
(benchmarks/peers/python/mini_redis.py) instead. Exits non-zero on the
first mismatch, saying what differed.
"""
import os
import signal
import socket
import subprocess
import sys
import time

FAILURES = []


def check(what, got, want):
    if got != want:
        FAILURES.append(f"{what}: got {got!r}, want {want!r}")


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if "listening on" not in line:
        p.kill()
        sys.exit(f"no 'listening on' line from {cmd}: {line!r}")
    port = int(line.split(":")[-1].split()[0])
    return p, port


def cli(port, *args, stdin=None):
    r = subprocess.run(["redis-cli", "-p", str(port), *args], input=stdin, capture_output=True, text=True,
                       timeout=30)
    return r.stdout


def commands(port):
    cases = [
        (["PING"], "PONG\n"),
        (["PING", "hi"], "hi\n"),
        (["ECHO", "hello world"], "hello world\n"),
        (["SET", "foo", "bar"], "OK\n"),
        (["GET", "foo"], "bar\n"),
        (["GET", "missing"], "\n"),
        (["SET", "foo", "baz", "NX"], "\n"),
        (["SET", "foo", "baz", "XX"], "OK\n"),
        (["SET", "new", "v", "XX"], "\n"),
        (["GET", "foo"], "baz\n"),
        (["SET", "t", "v", "EX", "100"], "OK\n"),
        (["TTL", "t"], "100\n"),
        (["SET", "p", "v", "PX", "1"], "OK\n"),
        (["TTL", "foo"], "-1\n"),
        (["TTL", "missing"], "-2\n"),
        (["EXPIRE", "foo", "50"], "1\n"),
        (["TTL", "foo"], "50\n"),
        (["EXPIRE", "missing", "50"], "0\n"),
        (["INCR", "n"], "1\n"),
        (["INCR", "n"], "2\n"),
        (["DECR", "n"], "1\n"),
        (["DECR", "m"], "-1\n"),
        (["INCR", "foo"], "ERR value is not an integer or out of range\n"),
        (["SET", "big", "9223372036854775807"], "OK\n"),
        (["INCR", "big"], "ERR increment or decrement would overflow\n"),
        (["MSET", "a", "1", "b", "2", "c", "3"], "OK\n"),
        (["MGET", "a", "b", "nope", "c"], "1\n2\n\n3\n"),
        (["EXISTS", "a", "b", "nope"], "2\n"),
        (["DEL", "a", "b", "nope"], "2\n"),
        (["EXISTS", "a"], "0\n"),
        (["SET", "x", "y", "EX", "0"], "ERR invalid expire time in 'set' command\n"),
        (["SET", "x", "y", "BOGUS"], "ERR syntax error\n"),
        (["GET"], "ERR wrong number of arguments for 'get' command\n"),
        (["FOO", "x"], "ERR unknown command 'FOO', with args beginning with: 'x' \n"),
    ]
    for args, want in cases:
        # redis-cli adds a blank line after some errors (not others): the
        # server's bytes are redis-server's (checked by pipelining()).
        check(" ".join(args), cli(port, *args).rstrip("\n"), want.rstrip("\n"))
    time.sleep(0.01)
    check("GET p (expired after 1 ms)", cli(port, "GET", "p"), "\n")


def many_keys(port):
    # Enough keys to land on every shard; one connection, commands from stdin.
    n = 200
    sets = "".join(f"SET key{i} value{i}\n" for i in range(n))
    check("200 SETs", cli(port, stdin=sets), "OK\n" * n)
    gets = "".join(f"GET key{i}\n" for i in range(n))
    check("200 GETs", cli(port, stdin=gets), "".join(f"value{i}\n" for i in range(n)))
    mget = ["MGET"] + [f"key{i}" for i in range(n)]
    check("MGET of 200", cli(port, *mget), "".join(f"value{i}\n" for i in range(n)))
    check("DEL of 200", cli(port, "DEL", *[f"key{i}" for i in range(n)]), f"{n}\n")


def resp(*args):
    out = f"*{len(args)}\r\n"
    for a in args:
        out += f"${len(a)}\r\n{a}\r\n"
    return out.encode()


def recv_until(sock, want_len, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while len(data) < want_len:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def pipelining(port):
    # 300 commands in one write; the replies in order.
    n = 300
    req = b"".join(resp("SET", f"pk{i}", str(i)) + resp("GET", f"pk{i}") for i in range(n // 2))
    want = b"".join(b"+OK\r\n" + f"${len(str(i))}\r\n{i}\r\n".encode() for i in range(n // 2))
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(req)
        check("pipelined replies", recv_until(s, len(want)), want)
    # Errors, byte for byte as redis-server 7 sends them.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(resp("GET") + resp("FOO", "x"))
        want = (b"-ERR wrong number of arguments for 'get' command\r\n"
                b"-ERR unknown command 'FOO', with args beginning with: 'x' \r\n")
        check("error replies", recv_until(s, len(want)), want)
    # An inline command, as telnet sends it.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"PING\r\n")
        check("inline PING", recv_until(s, 7), b"+PONG\r\n")
    # A protocol error is answered, then the connection is closed.
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"*1\r\n$x\r\n")
        check("protocol error", recv_until(s, 1 << 20), b"-ERR Protocol error: invalid bulk length\r\n")
    # A control byte is shown escaped: the error stays one line (found by fuzz/fuzz_resp.cpp).
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"*1\r\n\r\n")
        check("protocol error, control byte", recv_until(s, 1 << 20),
              b"-ERR Protocol error: expected '$', got '\\x0d'\r\n")


def pubsub(port):
    sub = subprocess.Popen(["redis-cli", "-p", str(port), "SUBSCRIBE", "news"], stdout=subprocess.PIPE, text=True)
    try:
        head = [sub.stdout.readline() for _ in range(3)]
        check("SUBSCRIBE reply", head, ["subscribe\n", "news\n", "1\n"])
        # From several connections (on two shards, some from the other one).
        for i in range(6):
            check(f"PUBLISH {i}", cli(port, "PUBLISH", "news", f"hello{i}"), "1\n")
            got = [sub.stdout.readline() for _ in range(3)]
            check(f"message {i}", got, ["message\n", "news\n", f"hello{i}\n"])
        check("PUBLISH to nobody", cli(port, "PUBLISH", "other", "x"), "0\n")
    finally:
        sub.kill()
        sub.wait()


def benchmark(port):
    for extra in ([], ["-P", "16"]):
        r = subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-n", "5000", "-c", "20",
                            "-t", "ping,set,get,incr,mset", *extra], capture_output=True, text=True, timeout=120)
        check(f"redis-benchmark {extra} exit status", r.returncode, 0)
        lines = [l for l in r.stdout.replace("\r", "\n").splitlines() if "requests per second" in l]
        names = sorted({l.split(":")[0].strip() for l in lines})
        check(f"redis-benchmark {extra} tests", names,
              sorted(["PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "MSET (10 keys)"]))


def stop(p, sig):
    p.send_signal(sig)
    try:
        code = p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        code = "hung"
    check(f"exit status after {signal.Signals(sig).name}", code, 0)


def main():
    args = sys.argv[1:]
    if len(args) == 3 and args[1] == "--python":
        configs = [([sys.executable, args[2], "0"], signal.SIGINT)]
    elif len(args) == 1:
        configs = [([args[0], "0"], signal.SIGINT), ([args[0], "--shards", "2", "0"], signal.SIGTERM)]
    else:
        sys.exit(__doc__)
    for cmd, sig in configs:
        p, port = start(cmd)
        try:
            for step in (commands, many_keys, pipelining, pubsub, benchmark):
                step(port)
        finally:
            stop(p, sig)
        if FAILURES:
            print(f"{' '.join(cmd)}:\n  " + "\n  ".join(FAILURES))
            sys.exit(1)
        print(f"ok: {' '.join(cmd)}")


if __name__ == "__main__":
    main()
