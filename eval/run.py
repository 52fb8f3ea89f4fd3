#!/usr/bin/env python3
"""Evaluation of search and of the chat turn on the git-doc corpus
(eval/questions.jsonl): ingest it into a real Docent server, then ask.

Usage:  cargo build --release && python3 eval/run.py [--data DIR] [--dump FILE]
            [--chunk-size 1000 --chunk-overlap 150] [--modes keyword,dense,hybrid]
            [--model-dir DIR | --no-model] [--threshold T] [--no-chat]

For each split (held-out, then tuning) it prints, per question style and per
kind of unanswerable question, for keyword, dense and hybrid search: hit@1,
hit@5, MRR@10 and how often the answerability judgement abstains (on
answerable questions, a false abstain); then the chat turn itself, asked
through a real bot over the widget API (follow-ups after their earlier
question, in one session): how often the reply cites an answer page, cites
only other pages, or abstains. Also ingestion throughput and search latency.
The embedding model comes from scripts/fetch-model (default folder
target/models/all-MiniLM-L6-v2). Standard library only. Not part of CI.
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
ANSWERABLE = ["paraphrase", "keyword", "typo", "long"]
KINDS = ["neighbour", "feature", "tool", "policy", "term"]
SPLITS = ["held-out", "tuning"]
# The bot's fallback in the chat-turn evaluation: an abstention is this reply.
FALLBACK = "EVAL: the documents do not answer this."


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
    parser.add_argument(
        "--dump", help="write every ranking and answerability to this JSON file (for eval/fusion.py, eval/fit.py)"
    )
    parser.add_argument("--threshold", type=float, help="the bot's answer_threshold (default: Docent's)")
    parser.add_argument("--no-chat", action="store_true", help="search only, no chat-turn evaluation")
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
        # One evaluation client asks hundreds of questions in a minute.
        "DOCENT_WIDGET_REQUESTS_PER_ADDRESS_PER_MINUTE": "1000000",
        "DOCENT_WIDGET_SESSIONS_PER_ADDRESS_PER_HOUR": "1000000",
        "DOCENT_WIDGET_MAX_SESSIONS_PER_BOT": "1000000",
        "DOCENT_WIDGET_MESSAGES_PER_SESSION_PER_MINUTE": "1000",
        "DOCENT_WIDGET_DAILY_MESSAGES_PER_BOT": "0",
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

        rankings, judged = {}, {}
        for mode in modes:
            rankings[mode], judged[mode] = search_all(client, workspace, questions, mode)
        chats = None if args.no_chat else chat_all(port, client, workspace, questions, args.threshold)
        threshold = args.threshold if args.threshold is not None else DEFAULT_THRESHOLD
        report(questions, rankings, judged, chats, threshold)
        if args.dump:
            with open(args.dump, "w") as out:
                dump = {"questions": questions, "rankings": rankings, "answerability": judged, "chats": chats}
                json.dump(dump, out)
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


# Docent's default answer_threshold (chat::answerable::DEFAULT_THRESHOLD).
DEFAULT_THRESHOLD = 0.5


def search_all(client, workspace, questions, mode):
    """Every question but the follow-ups (which only the chat turn can place in
    their conversation), searched alone: rankings and answerability."""
    latencies, rankings, judged = [], {}, {}
    for q in questions:
        if q["style"] == "follow-up":
            continue
        t = time.perf_counter()
        found = client.call(
            "POST", f"/workspaces/{workspace}/search", {"query": q["question"], "limit": 50, "mode": mode}
        )
        latencies.append(time.perf_counter() - t)
        rankings[q["id"]] = [
            {k: r[k] for k in ("chunk_id", "source", "score", "similarity")} for r in found["results"]
        ]
        judged[q["id"]] = found["answerability"]
    latencies.sort()
    print(
        f"{mode} search over HTTP (limit 50), {len(latencies)} queries: "
        f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )
    return rankings, judged


def chat_all(port, admin, workspace, questions, threshold):
    """Asks every question of a new bot over the widget API, each in its own
    session (a follow-up after its earlier question); the sources of each reply,
    or None when the bot gave its fallback."""
    bot = {"name": "eval", "workspace_id": workspace, "fallback_message": FALLBACK}
    if threshold is not None:
        bot["answer_threshold"] = threshold
    bot_id = admin.call("POST", "/widget/bots", bot)["id"]
    visitor = Client(port)
    visitor.token = admin.call("POST", "/widget/generate", {"bot_id": bot_id})["token"]
    replies, latencies = {}, []
    for q in questions:
        session = visitor.call("POST", "/widget/session/start", {})["session_id"]
        if q["style"] == "follow-up":
            visitor.call("POST", "/widget/chat", {"session_id": session, "message": q["previous"]})
        t = time.perf_counter()
        reply = visitor.call("POST", "/widget/chat", {"session_id": session, "message": q["question"]})
        latencies.append(time.perf_counter() - t)
        abstained = reply["reply"] == FALLBACK
        replies[q["id"]] = None if abstained else [s["source"] for s in reply["sources"]]
    latencies.sort()
    print(
        f"chat turns over HTTP (JSON), {len(latencies)} questions: p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms"
    )
    return replies


def page_rank(ranking, answers):
    """The rank (1-10) of the first answer page, pages counted once, or None."""
    pages = []
    for r in ranking:
        if r["source"] not in pages:
            pages.append(r["source"])
    return next((i + 1 for i, p in enumerate(pages[:10]) if p in answers), None)


def groups(q):
    """The table rows a question counts in."""
    if q["answers"]:
        return [q["style"], "answerable"]
    return [f"unanswerable: {q['kind']}", "unanswerable"]


ROWS = ANSWERABLE + ["answerable"] + [f"unanswerable: {k}" for k in KINDS] + ["unanswerable"]


def report(questions, rankings, judged, chats, threshold):
    for split in SPLITS:
        chosen = [q for q in questions if q["split"] == split]
        print(f"\n=== {split} split: {len(chosen)} questions; answer threshold {threshold} ===")
        for mode in rankings:
            rows = {}
            for q in chosen:
                if q["id"] not in rankings[mode]:
                    continue
                abstains = judged[mode][q["id"]]["score"] < threshold
                rank = page_rank(rankings[mode][q["id"]], q["answers"]) if q["answers"] else None
                for row in groups(q):
                    r = rows.setdefault(row, {"n": 0, "hit1": 0, "hit5": 0, "rr": 0.0, "abstain": 0})
                    r["n"] += 1
                    r["abstain"] += abstains
                    r["hit1"] += rank == 1
                    r["hit5"] += rank is not None and rank <= 5
                    r["rr"] += 1 / rank if rank else 0.0
            print(f"\n{mode} search, by page")
            print(f"{'questions':<26} {'n':>4} {'hit@1':>7} {'hit@5':>7} {'MRR@10':>7} {'abstain':>8}")
            for row in ROWS:
                r = rows.get(row)
                if not r:
                    continue
                n = r["n"]
                # Dense search alone reports no word evidence, and no bot runs on it.
                abstain = "-" if mode == "dense" else f"{r['abstain'] / n:.3f}"
                if row.startswith("unanswerable"):
                    print(f"{row:<26} {n:>4} {'':>7} {'':>7} {'':>7} {abstain:>8}")
                else:
                    print(
                        f"{row:<26} {n:>4} {r['hit1'] / n:>7.3f} {r['hit5'] / n:>7.3f} {r['rr'] / n:>7.3f} "
                        f"{abstain:>8}"
                    )
        if chats is None:
            continue
        rows = {}
        for q in chosen:
            sources = chats[q["id"]]
            outcome = (
                "abstain" if sources is None else "right" if set(sources) & set(q["answers"]) else "wrong"
            )
            for row in groups(q):
                r = rows.setdefault(row, {"n": 0, "right": 0, "wrong": 0, "abstain": 0})
                r["n"] += 1
                r[outcome] += 1
        print("\nchat turn (hybrid search, the bot's reply): cites an answer page / cites only others / abstains")
        print(f"{'questions':<26} {'n':>4} {'right':>7} {'wrong':>7} {'abstain':>8}")
        for row in ANSWERABLE + ["follow-up", "answerable"] + ROWS[len(ANSWERABLE) + 1 :]:
            r = rows.get(row)
            if r:
                n = r["n"]
                print(f"{row:<26} {n:>4} {r['right'] / n:>7.3f} {r['wrong'] / n:>7.3f} {r['abstain'] / n:>8.3f}")


if __name__ == "__main__":
    main()
