#!/usr/bin/env python3
"""Start-up time, idle memory and login throughput of the release binary.

Usage: cargo build --release && python3 bench/foundation.py [--runs 10] [--seconds 10]

Prints figures; asserts nothing. Uses only the standard library and SQLite in a
temporary folder. Throughput is measured with concurrent keep-alive clients on this
machine, so the client competes with the server for the same cores.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "docent")
PASSWORD = "benchmark password 1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data_dir, port, extra_env=None):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DOCENT_DATA_DIR": data_dir,
        "DOCENT_ADMIN_PASSWORD": PASSWORD,
        "DOCENT_LOG_LEVEL": "warn",
        # The benchmark fails logins on purpose; don't let throttling cut it short.
        "DOCENT_AUTH_MAX_FAILED_LOGINS_PER_USER": "10000",
        "DOCENT_AUTH_MAX_FAILED_LOGINS_PER_ADDRESS": "100000",
    }
    env.update(extra_env or {})
    began = time.perf_counter()
    proc = subprocess.Popen(
        [BINARY, "serve", "--bind", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, time.perf_counter() - began
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit("docent exited during start-up")
        time.sleep(0.001)


def stop(proc):
    proc.terminate()
    proc.wait(timeout=10)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def login(conn, username, password):
    body = json.dumps({"username": username, "password": password})
    conn.request("POST", "/auth/login", body, {"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def throughput(port, seconds, clients, username, password, expect):
    counts = [0] * clients
    latencies = [[] for _ in range(clients)]
    deadline = time.perf_counter() + seconds

    def worker(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            status = login(conn, username, password)
            latencies[i].append(time.perf_counter() - t)
            if status != expect:
                raise SystemExit(f"login answered {status}, expected {expect}")
            counts[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = sorted(x for lat in latencies for x in lat)
    return sum(counts) / elapsed, flat


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    if not os.path.exists(BINARY):
        raise SystemExit("build first: cargo build --release")

    print(f"binary: {BINARY} ({os.path.getsize(BINARY) / 1e6:.1f} MB)")
    print(f"cores: {os.cpu_count()}")

    first, warm = [], []
    for _ in range(args.runs):
        data = tempfile.mkdtemp(prefix="docent-bench-")
        try:
            port = free_port()
            proc, t = start(data, port)  # fresh folder: creates the database, migrates, hashes the admin password
            first.append(t)
            stop(proc)
            port = free_port()
            proc, t = start(data, port)  # existing database
            warm.append(t)
            stop(proc)
        finally:
            shutil.rmtree(data, ignore_errors=True)
    ms = lambda xs: f"median {statistics.median(xs) * 1000:.1f} ms, min {min(xs) * 1000:.1f}, max {max(xs) * 1000:.1f}"
    print(f"start to first 200 on /healthz, first start (new database) x{args.runs}: {ms(first)}")
    print(f"start to first 200 on /healthz, later start (existing database) x{args.runs}: {ms(warm)}")

    data = tempfile.mkdtemp(prefix="docent-bench-")
    try:
        port = free_port()
        proc, _ = start(data, port)
        time.sleep(1)
        # The first start hashed the administrator's password, and a hashing thread
        # keeps its buffer (m KiB) for the next login.
        print(f"idle RSS after a first start (admin password hashed): {rss_kib(proc.pid) / 1024:.1f} MiB")
        stop(proc)
        port = free_port()
        proc, _ = start(data, port)
        time.sleep(1)
        print(f"idle RSS after a later start: {rss_kib(proc.pid) / 1024:.1f} MiB")
        conn = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(200):
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        time.sleep(0.5)
        print(f"idle RSS after 200 requests: {rss_kib(proc.pid) / 1024:.1f} MiB")

        print("argon2id: m=19456 KiB, t=2, p=1 (defaults); one hash per login, at most one per core at a time")
        for clients in (1, 4, 16):
            rate, lat = throughput(port, args.seconds, clients, "admin", PASSWORD, 200)
            p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]
            print(
                f"successful logins, {clients:>2} clients: {rate:6.1f} logins/s "
                f"(p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms)"
            )
        print(f"RSS after the login runs: {rss_kib(proc.pid) / 1024:.1f} MiB")

        seconds = max(2.0, args.seconds / 2)
        _, wrong = throughput(port, seconds, 1, "admin", "wrong password", 401)
        _, unknown = throughput(port, seconds, 1, "nobody", "wrong password", 401)
        print(
            f"failed login, 1 client: wrong password mean {statistics.mean(wrong) * 1000:.2f} ms "
            f"(n={len(wrong)}), unknown user mean {statistics.mean(unknown) * 1000:.2f} ms (n={len(unknown)})"
        )
        stop(proc)
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
