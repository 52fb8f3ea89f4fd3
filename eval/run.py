#!/usr/bin/env python3
"""Retrieval evaluation: ingest the git-doc corpus into a real Docent server and
score its search on eval/questions.jsonl.

Usage:  cargo build --release && python3 eval/run.py [--chunk-size 1000 --chunk-overlap 150]
            [--modes keyword,dense,hybrid] [--model-dir DIR | --no-model]

Prints hit@1, hit@5 and MRR@10 overall and per question style for keyword,
dense and hybrid search; the best result's cosine similarity for answerable
and unanswerable questions (to calibrate the "I don't know" threshold);
ingestion throughput and search latency. The embedding model comes from
scripts/fetch-model (default folder target/models/all-MiniLM-L6-v2).
Standard library only. Not part of CI.
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
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BINARY = os.environ.get("DOCENT_BINARY") or os.path.join(ROOT, "target", "release", "docent")
PAGES = os.path.join(HERE, ".corpus", "pages")
PASSWORD = "evaluation password 1"
MODEL_DIR = os.path.join(ROOT, "target", "models", "all-MiniLM-L6-v2")
STYLES = ["paraphrase", "keyword", "typo", "long", "all"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """A signed-in JSON client of one server (bench/ingest.py uses it too)."""

    def __init__(self, port, timeout=120):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.token = None

    def call(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        self.conn.request(method, path, body, headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {path} -> {response.status}: {data[:300]!r}")
        return json.loads(data) if data else None

    def upload(self, path, files):
        boundary = uuid.uuid4().hex
        parts = []
        for name, content in files:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        return self.call("POST", path, body, {"content-type": f"multipart/form-data; boundary={boundary}"})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--chunk-overlap", type=int, default=150)
    parser.add_argument("--modes", default="keyword,dense,hybrid")
    parser.add_argument("--model-dir", default=MODEL_DIR)
    parser.add_argument("--no-model", action="store_true", help="keyword search only")
    parser.add_argument("--dump", help="write every ranking to this JSON file (for eval/fusion.py)")
    parser.add_argument(
        "--data",
        help="keep the server's data folder here; when it already holds the ingested corpus, "
        "skip ingestion and only search (compares search changes on the same chunks)",
    )
    args = parser.parse_args()
    modes = args.modes.split(",")
    if not args.no_model:
        subprocess.run([os.path.join(ROOT, "scripts", "fetch-model"), args.model_dir], check=True, stdout=subprocess.DEVNULL)
    if not os.path.exists(BINARY):
        raise SystemExit("build first: cargo build --release")
    subprocess.run([os.path.join(HERE, "fetch-corpus.sh")], check=True, stdout=subprocess.DEVNULL)
    questions = [json.loads(line) for line in open(os.path.join(HERE, "questions.jsonl"))]

    data = args.data or tempfile.mkdtemp(prefix="docent-eval-")
    os.makedirs(data, exist_ok=True)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DOCENT_DATA_DIR": data,
        "DOCENT_ADMIN_PASSWORD": PASSWORD,
        "DOCENT_LOG_LEVEL": "warn",
        "DOCENT_INGEST_CHUNK_SIZE": str(args.chunk_size),
        "DOCENT_INGEST_CHUNK_OVERLAP": str(args.chunk_overlap),
        "DOCENT_INGEST_WORKERS": "2",
        "DOCENT_EMBEDDINGS_PROVIDER": "none" if args.no_model else "local",
        "DOCENT_EMBEDDINGS_MODEL_DIR": args.model_dir,
    }
    server = subprocess.Popen(
        [BINARY, "serve", "--bind", f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL
    )
    try:
        for _ in range(500):
            try:
                Client(port).call("GET", "/healthz")
                break
            except (OSError, SystemExit):
                time.sleep(0.01)
        client = Client(port)
        client.token = client.call("POST", "/auth/login", {"username": "admin", "password": PASSWORD})[
            "access_token"
        ]
        existing = [w["id"] for w in client.call("GET", "/workspaces") if w["name"] == "git-doc"]
        if existing:
            workspace = existing[0]
            print(f"searching the corpus already ingested in {data}")
        else:
            workspace = client.call("POST", "/workspaces", {"name": "git-doc"})["id"]
            ingest(client, workspace, args)

        rankings = {}
        for mode in modes:
            rankings[mode] = evaluate(client, workspace, questions, mode)
        if args.dump:
            with open(args.dump, "w") as out:
                json.dump({"questions": questions, "rankings": rankings}, out)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if not args.data:
            shutil.rmtree(data, ignore_errors=True)


def ingest(client, workspace, args):
    """Uploads every page, 20 to a request, and waits until all are processed."""
    names = sorted(n for n in os.listdir(PAGES) if n.endswith(".html"))
    total_bytes = 0
    began = time.perf_counter()
    for i in range(0, len(names), 20):
        batch = []
        for name in names[i : i + 20]:
            content = open(os.path.join(PAGES, name), "rb").read()
            total_bytes += len(content)
            batch.append((name, content))
        client.upload(f"/workspaces/{workspace}/documents", batch)
    while True:
        docs = client.call("GET", f"/workspaces/{workspace}/documents")
        if all(d["status"] in ("ready", "failed") for d in docs):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - began
    chunks = sum(d["chunk_count"] for d in docs)
    failed = [d["source"] for d in docs if d["status"] == "failed"]
    print(
        f"ingested {len(docs)} pages ({total_bytes / 1e6:.1f} MB), {chunks} chunks in {elapsed:.1f} s: "
        f"{len(docs) / elapsed:.1f} pages/s, {chunks / elapsed:.0f} chunks/s; failed: {failed or 'none'}"
    )
    print(f"chunk_size {args.chunk_size}, overlap {args.chunk_overlap}")


def evaluate(client, workspace, questions, mode):
    per_style = {}
    latencies, top_answerable, top_unanswerable = [], [], []
    rankings = {}
    for q in questions:
        t = time.perf_counter()
        results = client.call(
            "POST", f"/workspaces/{workspace}/search", {"query": q["question"], "limit": 50, "mode": mode}
        )["results"]
        latencies.append(time.perf_counter() - t)
        rankings[q["id"]] = [
            {k: r[k] for k in ("chunk_id", "source", "score", "similarity")} for r in results
        ]
        best = max((r["similarity"] for r in results if r.get("similarity") is not None), default=None)
        if not q["answers"]:
            top_unanswerable.append(best)
            continue
        top_answerable.append(best)
        # Rank by document: the first result from each page counts.
        pages = []
        for r in results:
            if r["source"] not in pages:
                pages.append(r["source"])
        rank = next((i + 1 for i, p in enumerate(pages[:10]) if p in q["answers"]), None)
        for style in (q["style"], "all"):
            s = per_style.setdefault(style, {"n": 0, "hit1": 0, "hit5": 0, "rr": 0.0})
            s["n"] += 1
            s["hit1"] += rank == 1
            s["hit5"] += rank is not None and rank <= 5
            s["rr"] += 1 / rank if rank else 0.0

    print(f"\n{mode} search, by document")
    print(f"{'style':<12} {'n':>4} {'hit@1':>7} {'hit@5':>7} {'MRR@10':>7}")
    for style in STYLES:
        s = per_style.get(style)
        if s:
            n = s["n"]
            print(f"{style:<12} {n:>4} {s['hit1'] / n:>7.3f} {s['hit5'] / n:>7.3f} {s['rr'] / n:>7.3f}")
    latencies.sort()
    print(
        f"search latency over HTTP (limit 50), {len(latencies)} queries: "
        f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )
    answerable = [x for x in top_answerable if x is not None]
    unanswerable = [x for x in top_unanswerable if x is not None]
    if answerable and unanswerable:
        q = lambda xs: f"median {statistics.median(xs):.3f}, min {min(xs):.3f}, max {max(xs):.3f}"
        print(f"best cosine, answerable ({len(answerable)}): {q(answerable)}")
        print(f"best cosine, unanswerable ({len(unanswerable)}): {q(unanswerable)}")
        for threshold in [0.25, 0.30, 0.35, 0.40, 0.45, 0.50]:
            kept = sum(x >= threshold for x in answerable) / len(answerable)
            refused = sum(x < threshold for x in unanswerable) / len(unanswerable)
            print(f"  threshold {threshold:.2f}: answerable kept {kept:.3f}, unanswerable refused {refused:.3f}")
    return rankings


if __name__ == "__main__":
    main()
