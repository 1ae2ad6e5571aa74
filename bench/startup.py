"""App start-up: seconds from `python app.py` to the printed local URL and the first page served.

Usage: python bench/startup.py [--runs 3]  -> bench/results/startup.json
"""
import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run() -> dict:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        for line in p.stdout:
            if "Running on local URL" in line:
                break
        else:
            raise RuntimeError("app exited before printing its URL")
        t_url = time.perf_counter() - t0
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).read()
        t_page = time.perf_counter() - t0
    finally:
        p.terminate()
        p.wait(timeout=30)
    return {"url_printed_s": round(t_url, 2), "first_page_s": round(t_page, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    runs = [one_run() for _ in range(a.runs)]
    res = {"runs": runs, "best_first_page_s": min(r["first_page_s"] for r in runs),
           "cpu_count": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
           "python": platform.python_version(), "machine": platform.machine()}
    out = ROOT / "bench" / "results" / "startup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
