"""Load on the chat server: concurrent ``/ask`` calls, latency, errors and memory over time.

    python bench/load.py [--concurrency 1,2,4,8] [--burst 50] [--total 1000] [--threads 20] [--in-process cold|warm]
                         [--client gradio|http] [--json FILE]

For each value of ``--concurrency`` (``RAG_CONCURRENCY``, questions answered at once) this
starts ``rag serve`` in a subprocess over a copy of the seeds in a temporary folder, on
loopback and a free port, asks a few questions one at a time (the latency alone), then fires
``--burst`` concurrent ``/ask`` calls (one thread and client each, released together; the
client is ``gradio_client`` or, with ``--client http``, Gradio's two-request HTTP API as curl
uses it) and reports errors, p50, p95, max, and the CPU seconds the server and the clients
used. Then, with ``--soak-concurrency``
(default: the first value), ``--total`` questions from ``--threads`` threads (the questions
cycled) while the server's resident memory (RSS) is sampled every ``--sample-every`` answers:
flat means no leak. Every call has a time bound (``--timeout``). The load average (the
machine may be shared) is printed beside the figures, and the server's stderr is checked for
tracebacks.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from itertools import cycle
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_avg() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def server(work: Path, concurrency: int, extra_env: dict[str, str] | None = None,
           start_timeout: float = 900) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """``rag serve`` over ``work``/seeds with ``RAG_CONCURRENCY=concurrency``; yields (url, process, stderr file)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(HF_HUB_OFFLINE="1", RAG_CONCURRENCY=str(concurrency), GRADIO_TEMP_DIR=str(work / "gradio"),
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""), **(extra_env or {}))
    log = work / f"serve-c{concurrency}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "--seeds", str(work / "seeds"), "--index",
                                 str(work / "index"), "--no-progress", "serve", "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=err, stderr=subprocess.STDOUT, env=env, cwd=work)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + start_timeout
        while "Running on" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"rag serve did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)
        yield url, proc, log
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class HttpCaller:
    """Gradio's documented two-request HTTP API (as with curl): POST the values to
    ``gradio_api/call/ask``, then read the result from the event's stream. One connection pool
    per caller, few client-side threads: the lean client."""

    VALUES = ["", 0, "", "", [], "", "", "", "", ""]  # question, k, mode, answerer, history, filters

    def __init__(self, url: str) -> None:
        import httpx

        self.url, self.http = url, httpx.Client(timeout=None)

    def submit(self, question: str, timeout: float) -> dict:
        base = f"{self.url}gradio_api/call/ask"
        event = self.http.post(base, json={"data": [question] + self.VALUES[1:]}, timeout=timeout).json()["event_id"]
        kind = None
        with self.http.stream("GET", f"{base}/{event}", timeout=timeout) as resp:
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    data = json.loads(line.split(":", 1)[1])
                    if kind == "error":
                        raise RuntimeError(f"server error: {data}")
                    return data[0]
        raise RuntimeError("the result stream ended without a result")

    def close(self) -> None:
        self.http.close()


class GradioCaller:
    """``gradio_client.Client`` (a thread, an SSE reader and a connection per client)."""

    def __init__(self, url: str) -> None:
        from gradio_client import Client

        self.client = Client(url, verbose=False, analytics_enabled=False)

    def submit(self, question: str, timeout: float) -> dict:
        return self.client.submit(question, api_name="/ask").result(timeout=timeout)

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close:
            close()


CALLERS = {"gradio": GradioCaller, "http": HttpCaller}
CLIENT = ["gradio"]  # set from --client


def clients(url: str, n: int) -> list:
    """``n`` callers of the kind ``--client`` names, made in parallel."""
    out: list = [None] * n

    def make(i: int) -> None:
        out[i] = CALLERS[CLIENT[0]](url)

    threads = [threading.Thread(target=make, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    if any(c is None for c in out):
        raise RuntimeError("could not connect every client")
    return out


def ask(client, question: str, timeout: float) -> tuple[float, str | None, bool]:
    """(seconds, error or None, answered) of one ``/ask`` call, bounded by ``timeout``."""
    t = time.perf_counter()
    try:
        res = client.submit(question, timeout)
        ok = isinstance(res, dict) and isinstance(res.get("text"), str) and res.get("hits") is not None
        return time.perf_counter() - t, None if ok else f"bad answer: {str(res)[:80]}", bool(res.get("answered"))
    except Exception as exc:  # noqa: BLE001 - counted and reported
        return time.perf_counter() - t, f"{type(exc).__name__}: {exc}"[:200], False


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))] if s else float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst(url: str, questions: list[str], n: int, timeout: float, pid: int) -> dict:
    """``n`` concurrent calls, one per thread and client, released at once; CPU seconds of the
    server (``pid``) and of these clients during the burst."""
    cs = clients(url, n)
    gate = threading.Barrier(n + 1)
    results: list = [None] * n

    def run(i: int) -> None:
        gate.wait()
        results[i] = ask(cs[i], questions[i % len(questions)], timeout)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    load = load_avg()
    t0, server0, client0 = time.perf_counter(), cpu_s(pid), cpu_s(os.getpid())
    gate.wait()
    for t in threads:
        t.join(timeout + 30)
    wall = time.perf_counter() - t0
    server_cpu, client_cpu = cpu_s(pid) - server0, cpu_s(os.getpid()) - client0
    done = [r for r in results if r is not None]
    lat = [r[0] for r in done if r[1] is None]
    errors = [r[1] for r in done if r[1] is not None] + ["no result (thread still running)"] * (n - len(done))
    _close(cs)
    return {"calls": n, "errors": len(errors), "error_examples": sorted(set(errors))[:3],
            "p50": statistics.median(lat) if lat else None, "p95": pct(lat, 0.95), "max": max(lat, default=None),
            "wall": wall, "throughput_qps": len(lat) / wall,
            "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "load_before": load, "load_after": load_avg()}


def alone(url: str, questions: list[str], n: int, timeout: float) -> dict:
    """``n`` calls one after another: the latency of a question on its own."""
    (c,) = clients(url, 1)
    lat = [ask(c, questions[i % len(questions)], timeout)[0] for i in range(n)]
    _close([c])
    return {"calls": n, "p50": statistics.median(lat), "max": max(lat)}


def soak(url: str, pid: int, questions: list[str], total: int, threads: int, every: int, timeout: float) -> dict:
    """``total`` questions from ``threads`` threads; the server's RSS every ``every`` answers."""
    cs = clients(url, threads)
    todo = iter(cycle(questions))
    lock = threading.Lock()
    state = {"left": total, "done": 0}
    samples = [(0, rss_mb(pid))]
    lat: list[float] = []
    errors: list[str] = []

    def run(i: int) -> None:
        while True:
            with lock:
                if state["left"] == 0:
                    return
                state["left"] -= 1
                q = next(todo)
            dt, err, _ = ask(cs[i], q, timeout)
            with lock:
                state["done"] += 1
                (errors.append(err) if err else lat.append(dt))
                if state["done"] % every == 0:
                    samples.append((state["done"], rss_mb(pid)))

    load = load_avg()
    t0 = time.perf_counter()
    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout * total / threads + 60)
    wall = time.perf_counter() - t0
    _close(cs)
    mid = next((mb for n, mb in samples if n >= total // 10), samples[-1][1])  # after the first tenth
    return {"questions": total, "threads": threads, "errors": len(errors), "error_examples": sorted(set(errors))[:3],
            "p50": statistics.median(lat) if lat else None, "p95": pct(lat, 0.95), "wall": wall,
            "rss_mb": [(n, round(mb, 1)) for n, mb in samples], "rss_start": samples[0][1],
            "rss_after_first_tenth": mid, "rss_end": samples[-1][1], "rss_max": max(mb for _, mb in samples),
            "growth_after_first_tenth_mb": samples[-1][1] - mid, "load_before": load, "load_after": load_avg()}


def _close(cs: list) -> None:
    for c in cs:
        try:
            c.close()
        except Exception:  # noqa: BLE001
            pass


def in_process(seeds: Path, questions: list[str], warm: bool) -> dict:
    """CPU per question of ``Assistant.ask`` in this process (no server, no clients): a first pass
    over ``questions`` (sentence vectors not cached yet unless ``warm``), then a second one."""
    sys.path.insert(0, str(ROOT))
    from rag import Assistant, Settings

    work = Path(tempfile.mkdtemp(prefix="rag-load-inproc-"))
    try:
        shutil.copytree(seeds, work / "seeds")
        a = Assistant.open(settings=Settings.from_env(seeds_dir=work / "seeds", index_dir=work / "index"))
        a.warm_up() if warm else a.ask("What are the articles about?")
        out = {}
        for label in ("first_pass", "second_pass"):
            t, c = time.perf_counter(), time.process_time()
            for q in questions:
                a.ask(q)
            out[f"{label}_cpu_ms"] = 1000 * (time.process_time() - c) / len(questions)
            out[f"{label}_wall_ms"] = 1000 * (time.perf_counter() - t) / len(questions)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tracebacks(log: Path) -> int:
    return log.read_text(errors="replace").count("Traceback (most recent call last)")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=Path, default=ROOT / "seeds", help="articles to copy and serve [seeds/]")
    ap.add_argument("--questions", type=Path, nargs="+", default=[ROOT / "tests" / "dev.jsonl", ROOT / "tests" / "heldout.jsonl"],
                    help="JSONL files with a question field [tests/dev.jsonl tests/heldout.jsonl: 49 questions]")
    ap.add_argument("--concurrency", default="1,2,4,8", help="RAG_CONCURRENCY values to compare [1,2,4,8]")
    ap.add_argument("--burst", type=int, default=50, help="concurrent calls per value [50]")
    ap.add_argument("--total", type=int, default=1000, help="questions in the memory run (0 = skip) [1000]")
    ap.add_argument("--threads", type=int, default=20, help="threads of the memory run [20]")
    ap.add_argument("--sample-every", type=int, default=50, help="RSS sample every N answers [50]")
    ap.add_argument("--soak-concurrency", type=int, help="RAG_CONCURRENCY of the memory run [first value]")
    ap.add_argument("--alone", type=int, default=10, help="questions asked one at a time first [10]")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per call [600]")
    ap.add_argument("--env", action="append", default=[], metavar="RAG_X=VALUE",
                    help="a setting for the server (repeatable; the caller's RAG_* are not passed on)")
    ap.add_argument("--client", choices=sorted(CALLERS), default="gradio",
                    help="gradio: gradio_client; http: the two-request HTTP API, as curl uses it [gradio]")
    ap.add_argument("--in-process", choices=("cold", "warm"), help="only time Assistant.ask in this process: "
                    "cold (as a server without warm_up's sentence vectors) or warm (with them), two passes")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    CLIENT[0] = args.client

    questions = [json.loads(line)["question"] for path in args.questions
                 for line in path.read_text().splitlines() if line.strip()]
    if args.in_process:
        res = in_process(args.seeds, questions, args.in_process == "warm")
        print(json.dumps(res))
        return res
    levels = [int(x) for x in args.concurrency.split(",")]
    extra = dict(item.split("=", 1) for item in args.env)
    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    shutil.copytree(args.seeds, work / "seeds")
    out: dict = {"cpus": os.cpu_count(), "questions": len(questions), "env": extra, "client": args.client,
                "bursts": {}}
    try:
        for c in levels:
            with server(work, c, extra) as (url, proc, log):
                single = alone(url, questions, args.alone, args.timeout)
                b = burst(url, questions, args.burst, args.timeout, proc.pid)
                b.update(alone_p50=single["p50"], server_tracebacks=tracebacks(log), rss_mb=round(rss_mb(proc.pid), 1))
                out["bursts"][c] = b
                print(f"concurrency {c}: {args.burst} at once: {b['errors']} errors, p50 {b['p50']:.2f} s, "
                      f"p95 {b['p95']:.2f} s, max {b['max']:.2f} s, {b['throughput_qps']:.1f} q/s, CPU: server "
                      f"{b['server_cpu_s']:.1f} s, clients {b['client_cpu_s']:.1f} s "
                      f"(alone p50 {single['p50']:.2f} s; load {b['load_before']} -> {b['load_after']})", flush=True)
        if args.total:
            c = args.soak_concurrency or levels[0]
            with server(work, c, extra) as (url, proc, log):
                alone(url, questions, 5, args.timeout)  # warm, as a served page is
                s = soak(url, proc.pid, questions, args.total, args.threads, args.sample_every, args.timeout)
                s.update(concurrency=c, server_tracebacks=tracebacks(log))
                out["soak"] = s
                print(f"memory run (concurrency {c}): {s['questions']} questions from {s['threads']} threads: "
                      f"{s['errors']} errors, p50 {s['p50']:.2f} s, p95 {s['p95']:.2f} s, {s['wall']:.0f} s; "
                      f"RSS {s['rss_start']:.0f} MB at start, {s['rss_after_first_tenth']:.0f} after "
                      f"{args.total // 10}, {s['rss_end']:.0f} at the end (max {s['rss_max']:.0f}); "
                      f"load {s['load_before']} -> {s['load_after']}", flush=True)
                print("RSS samples (answers, MB):", " ".join(f"{n}:{mb:.0f}" for n, mb in s["rss_mb"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
