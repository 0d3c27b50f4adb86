"""Click-to-playable-video time of the app, measured through gradio_client.

Starts ``python app.py`` on a free port (a fresh process per run, so the first request pays
for every cold start a real first visitor would), then times:

- first run: ``/analyze`` (upload + pose + plots) then ``/generate`` (music + muxed MP4,
  downloaded by the client), i.e. the two clicks of a first visit;
- re-generate: ``/generate`` with a new prompt and seed (the analysis is reused);
- the prompt lab's batch: ``/generate_seeds`` (4 seeds of one prompt, all files written).

Usage: .venv/bin/python bench/bench_app.py [--video PATH] [--runs 3] [--regens 3]
Prints timings; asserts nothing (targets: first run <= 15 s, re-generate <= 5 s on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = ROOT.parent / "shared" / "data" / "videos" / "unianimate_dance_9s.mp4"
PROMPTS = (
    "a @ music with * as the rhythm, jazzy piano",
    "a @ music with * as the rhythm, dark synth, driving",
    "a @ music with * as the rhythm, happy brass, upbeat",
    "a @ music with * as the rhythm, calm strings",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "app.py"), "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("app.py did not start within 120 s")


def one_run(video: Path, regens: int, extra: list[str]) -> dict[str, list[float] | float]:
    from gradio_client import Client, handle_file

    port = free_port()
    proc = start_server(port, extra)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        dance = handle_file(str(video))
        t0 = time.perf_counter()
        genre = client.predict(dance, api_name="/analyze")[3]["value"]
        t_an = time.perf_counter() - t0
        t1 = time.perf_counter()
        mp4 = client.predict(dance, genre=genre, api_name="/generate")[0]
        t_gen = time.perf_counter() - t1
        assert Path(mp4["video"] if isinstance(mp4, dict) else mp4).stat().st_size > 0
        regen = []
        for i in range(regens):
            t = time.perf_counter()
            client.predict(
                dance, prompt=PROMPTS[i % len(PROMPTS)], genre=genre, seed=100 + i,
                api_name="/generate",
            )  # fmt: skip
            regen.append(time.perf_counter() - t)
        t = time.perf_counter()
        records = client.predict(dance, genre=genre, seed=200, api_name="/generate_seeds")[-1]
        t_batch = time.perf_counter() - t
        assert len(records) == 4, records
        return {
            "analyze": t_an, "generate": t_gen, "first": t_an + t_gen, "regen": regen,
            "batch": t_batch,
        }  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--runs", type=int, default=3, help="fresh server processes (first runs)")
    ap.add_argument("--regens", type=int, default=3, help="re-generations per run")
    ap.add_argument("--no-warmup", action="store_true", help="pass --no-warmup to app.py")
    args = ap.parse_args()
    if not args.video.is_file():
        print(f"video not found: {args.video}", file=sys.stderr)
        return 2
    extra = ["--no-warmup"] if args.no_warmup else []
    print(f"video {args.video.name}, {os.cpu_count()} CPUs, {args.runs} fresh server(s)")
    print(
        f"{'run':>3} {'analyze':>8} {'generate':>9} {'first run':>10} {'4 seeds':>8}"
        "  re-generate (s)"
    )
    firsts, regens, batches = [], [], []
    for r in range(args.runs):
        res = one_run(args.video, args.regens, extra)
        firsts.append(res["first"])
        regens += res["regen"]
        batches.append(res["batch"])
        rg = " ".join(f"{t:.2f}" for t in res["regen"])
        print(
            f"{r:>3} {res['analyze']:>8.2f} {res['generate']:>9.2f} {res['first']:>10.2f}"
            f" {res['batch']:>8.2f}  {rg}"
        )
    print(
        f"click-to-playable: first run median {statistics.median(firsts):.2f} s"
        f" (max {max(firsts):.2f}; target 15), re-generate median"
        f" {statistics.median(regens):.2f} s (max {max(regens):.2f}; target 5),"
        f" 4-seed batch median {statistics.median(batches):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
