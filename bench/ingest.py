#!/usr/bin/env python3
"""Ingestion throughput of the release binary: pages/s and chunks/s, with no
embeddings and with the local model, and the server's RSS after ingestion.

Usage: cargo build --release && python3 bench/ingest.py [--providers none,local]
           [--pages DIR | --generate 500] [--model-dir DIR] [--workers 1]

Each provider gets a fresh server on SQLite in a temporary folder: log in, create
a workspace, upload every page (20 to a request), then poll the document list
until nothing is pending. The clock runs from the first upload to the last
document ready. The default corpus is eval/.corpus/pages (219 HTML pages of
Git's documentation, from eval/fetch-corpus.sh); --generate writes Markdown pages
instead. The model comes from scripts/fetch-model (default folder
target/models/all-MiniLM-L6-v2); without it the local run is skipped.
Prints figures; asserts nothing. Standard library only.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
BINARY = os.path.join(TARGET, "release", "docent")
PAGES = os.path.join(ROOT, "eval", ".corpus", "pages")
MODEL_DIR = os.path.join(ROOT, "target", "models", "all-MiniLM-L6-v2")
PASSWORD = "benchmark password 1"

# The evaluation's small HTTP client and port helper (eval/run.py).
sys.path.insert(0, os.path.join(ROOT, "eval"))
from run import Client, free_port  # noqa: E402
UPLOAD_BATCH = 20


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def start(binary, data_dir, port, provider, model_dir, workers):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DOCENT_DATA_DIR": data_dir,
        "DOCENT_ADMIN_PASSWORD": PASSWORD,
        "DOCENT_LOG_LEVEL": "warn",
        "DOCENT_LOG_FORMAT": "json",
        "DOCENT_EMBEDDINGS_PROVIDER": provider,
        "DOCENT_EMBEDDINGS_MODEL_DIR": model_dir,
    }
    if workers:
        env["DOCENT_INGEST_WORKERS"] = str(workers)
    log = open(os.path.join(data_dir, "server.log"), "wb")
    proc = subprocess.Popen(
        [binary, "serve", "--bind", f"127.0.0.1:{port}"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    for _ in range(3000):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit("docent exited during start-up")
        time.sleep(0.01)
    proc.terminate()
    raise SystemExit("docent did not answer /healthz within 30 s")


def read_pages(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith((".html", ".md", ".txt")))
    pages = []
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            pages.append((name, f.read()))
    return pages


def generate_pages(count, seed=7):
    """Markdown pages of 3 to 8 sections, English-like words with Zipf-distributed ranks."""
    rng = random.Random(seed)
    common = (
        "the of and to a in is you that it for on with as are be this by or can your from an not if "
        "when use which will all file set its at each one new has more do may any other option only"
    ).split()
    syllables = [o + v for o in "b c d f g h l m n p r s t v w br st tr sh".split() for v in "a e i o u ea ou".split()]
    vocab, seen = list(common), set(common)
    while len(vocab) < 4000:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
        if len(word) >= 3 and word not in seen:
            seen.add(word)
            vocab.append(word)
    weights = [1 / rank for rank in range(1, len(vocab) + 1)]

    def sentence():
        words = rng.choices(vocab, weights, k=rng.randint(6, 20))
        return " ".join(words).capitalize() + "."

    pages = []
    for i in range(count):
        title = " ".join(rng.choice(vocab[100:]) for _ in range(3)).title()
        lines = [f"# {title}", ""]
        for _ in range(rng.randint(3, 8)):
            lines += [f"## {' '.join(rng.choice(vocab[100:]) for _ in range(2)).title()}", ""]
            for _ in range(rng.randint(2, 5)):
                lines += [" ".join(sentence() for _ in range(rng.randint(3, 7))), ""]
        pages.append((f"page-{i:05}.md", "\n".join(lines).encode()))
    return pages


def ingest(binary, pages, provider, model_dir, workers):
    data = tempfile.mkdtemp(prefix="docent-bench-")
    port = free_port()
    proc = start(binary, data, port, provider, model_dir, workers)
    try:
        client = Client(port, timeout=300)
        login = client.call("POST", "/auth/login", {"username": "admin", "password": PASSWORD})
        client.token = login["access_token"]
        workspace = client.call("POST", "/workspaces", {"name": f"bench-{provider}"})["id"]
        idle = status_kib(proc.pid, "VmRSS")

        began = time.perf_counter()
        for i in range(0, len(pages), UPLOAD_BATCH):
            client.upload(f"/workspaces/{workspace}/documents", pages[i : i + UPLOAD_BATCH])
        uploaded = time.perf_counter() - began
        while True:
            docs = client.call("GET", f"/workspaces/{workspace}/documents")
            if all(d["status"] in ("ready", "failed") for d in docs):
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - began
        rss, peak = status_kib(proc.pid, "VmRSS"), status_kib(proc.pid, "VmHWM")

        ready = [d for d in docs if d["status"] == "ready"]
        chunks = sum(d["chunk_count"] for d in ready)
        size = sum(len(content) for _, content in pages)
        # Dense search finds something only if the chunks were embedded.
        dense = client.call(
            "POST", f"/workspaces/{workspace}/search", {"query": "how do I start", "limit": 5, "mode": "dense"}
        )["results"]
        print(
            f"provider {provider:<5}: {len(ready)} pages ({size / 1e6:.1f} MB), {chunks} chunks in {elapsed:.2f} s "
            f"(uploads took {uploaded:.2f} s): {len(ready) / elapsed:.1f} pages/s, {chunks / elapsed:.1f} chunks/s; "
            f"failed {len(docs) - len(ready)}; dense search results {len(dense)}"
        )
        print(
            f"               server RSS idle {idle / 1024:.1f} MiB, after ingestion {rss / 1024:.1f} MiB "
            f"(peak {peak / 1024:.1f} MiB)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        report_warnings(os.path.join(data, "server.log"))
        shutil.rmtree(data, ignore_errors=True)


def report_warnings(path):
    """Prints the server's warnings, counted by message (slow statements by their SQL)."""
    seen = {}
    with open(path, errors="replace") as log:
        for line in log:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            fields = entry.get("fields", entry)  # the server's JSON format flattens them
            message = fields.get("message", "")
            if message.startswith("slow statement"):
                message = f"slow statement: {fields.get('summary', '')}"
            count, slowest = seen.get((entry.get("level"), message), (0, 0.0))
            seen[(entry.get("level"), message)] = (count + 1, max(slowest, fields.get("elapsed_secs", 0.0)))
    for (level, message), (count, slowest) in sorted(seen.items()):
        took = f", slowest {slowest:.1f} s" if slowest else ""
        print(f"               server {level}: {count} x {message[:160]}{took}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", default="none,local")
    parser.add_argument("--pages", default=PAGES, help="a folder of .html, .md or .txt pages")
    parser.add_argument("--generate", type=int, metavar="N", help="generate N Markdown pages instead")
    parser.add_argument("--model-dir", default=MODEL_DIR)
    parser.add_argument("--workers", type=int, help="DOCENT_INGEST_WORKERS (default: the server's, 1)")
    parser.add_argument("--binary", default=BINARY)
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        raise SystemExit(f"no {args.binary}: build first (cargo build --release)")
    if args.generate:
        pages = generate_pages(args.generate)
    else:
        if args.pages == PAGES and not os.path.isdir(PAGES):
            subprocess.run([os.path.join(ROOT, "eval", "fetch-corpus.sh")], check=True, stdout=subprocess.DEVNULL)
        pages = read_pages(args.pages)
    print(f"binary: {args.binary}; cores: {os.cpu_count()}; pages: {len(pages)}; workers: {args.workers or 'default'}")
    for provider in args.providers.split(","):
        model = os.path.join(args.model_dir, "model.safetensors")
        if provider == "local" and not os.path.exists(model):
            print(f"provider local: skipped, no model in {args.model_dir} (scripts/fetch-model {args.model_dir})")
            continue
        ingest(args.binary, pages, provider, args.model_dir, args.workers)


if __name__ == "__main__":
    main()
