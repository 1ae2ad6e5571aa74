"""Rehearse a Hugging Face Space here: a clean venv from requirements.txt alone (+ gradio==sdk_version and `spaces`,
as the Space's builder adds, and gradio_client), the repo's files copied as an upload would send them, `python app.py`
bound as a Space binds it, the cold start to the first page, then every named API endpoint called once.

Usage: python scripts/space_check.py [--keep-venv]   -> bench/results/space.{json,md}; exit 1 on any failure.
Needs gradio_client and pillow in the interpreter that runs it (the project's .venv: `make space-check`).
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV, APP, LOGS = Path("/tmp/imggen-space-venv"), Path("/tmp/imggen-space-app"), Path("/tmp/imggen-space-logs")
OUT = ROOT / "bench" / "results"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TRAIN_NAME = "space-check"
# Endpoint -> the inputs to set by parameter name (the rest take view_api's defaults); a callable gets the context
# (the digit file, earlier endpoints' outputs). An endpoint missing here fails the check: add it when you add one.
ARGS = {
    "/sample": {"count": 4},
    "/prompt": {"count": 2},
    "/detect": {"upload": lambda c: c["digit"]},
    "/style_mix": {"row_seeds": "1, 2", "col_seeds": "3, 4", "layers": [7]},  # 7x7: the coarse styles
    "/explore_load": {},
    "/explore_update": {},
    "/explore_reset": {},
    "/explore_sweep": {},
    "/explore_recipe": {"text": lambda c: c["/explore_update"][1]},
    "/explore_package": {},  # the in-browser decoder's package (JSON: ONNX URL, shapes, the seed's latent)
    "/complete_input": {"drawing": None, "upload": None},
    "/complete": {"drawing": None, "upload": None, "editor": None, "n": 2},
    "/reconstruct": {"source": "Upload", "drawing": None, "upload": lambda c: c["digit"]},
    "/interpolate": {"a_upload": None, "a_drawing": None, "b_upload": None, "b_drawing": None, "steps": 4},
    # tiny settings (tests/train_settings.py): 4 steps of a small DCGAN on 256 images
    "/train": {"family": "DCGAN", "zip_file": None, "max_images": 256, "epochs": 1, "batch_size": 64,
               "latent_dim": 16, "width": 8, "grid_every": 0, "name": TRAIN_NAME, "start_from": "a new model"},
    "/resume": {"epochs": 1, "name": TRAIN_NAME},
    "/stop": {},
    "/fit_prior": {"components": 3},
    "/publish": {"name": TRAIN_NAME, "public_name": f"{TRAIN_NAME}-public"},
    "/arena": {"count": 4},
    "/models_refresh": {},
    "/model_card": {},
}
CALL_TIMEOUT_S = 300


def front_matter() -> dict:
    m = re.match(r"---\n(.*?)\n---\n", (ROOT / "README.md").read_text(), re.S)
    pairs = (ln.split(":", 1) for ln in m.group(1).splitlines() if ":" in ln)
    return {k.strip(): v.strip().strip('"') for k, v in pairs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0]) / 2**20


def clean_env(**extra) -> dict:
    """The environment without this project's venv (nothing of it leaks into the rehearsal)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join([str(VENV / "bin")] + [p for p in env.get("PATH", "").split(os.pathsep)
                                                         if not p.startswith(str(ROOT))])
    return {**env, **extra}


def install(meta: dict) -> dict:
    """Fresh venv + pip install -r requirements.txt gradio==sdk_version spaces gradio_client; -> timings, sizes."""
    shutil.rmtree(VENV, ignore_errors=True)
    t0 = time.perf_counter()
    subprocess.run([f"python{meta['python_version']}", "-m", "venv", str(VENV)], check=True)
    venv_s = time.perf_counter() - t0
    log = LOGS / "pip.log"
    # --retries 0: here the PyTorch CPU index does not resolve and pip would retry it 5 times per package (~7 s each);
    # on a Space it is reachable and the flag changes nothing.
    cmd = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--retries", "0", "-r", str(APP / "requirements.txt"),
           f"gradio=={meta['sdk_version']}", "spaces", "gradio_client"]  # gradio on Spaces needs `spaces` (reloader)
    print("$", " ".join(cmd), f"> {log}", flush=True)
    t0 = time.perf_counter()
    with open(log, "w") as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=clean_env()).returncode
    pip_s = time.perf_counter() - t0
    if rc:
        print(log.read_text()[-3000:])
        raise SystemExit(f"pip install failed (exit {rc}), log: {log}")
    site = next((VENV / "lib").glob("python*/site-packages"))
    cuda = sum(du_mb(p) for p in site.iterdir() if p.is_dir() and re.match(r"(nvidia|triton|cuda)", p.name))
    probe = "import torch, gradio; print(torch.__version__, gradio.__version__)"
    torch_v, gradio_v = subprocess.run([str(VENV / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                                       check=True, env=clean_env()).stdout.split()
    return {"venv_create_s": round(venv_s, 1), "pip_install_s": round(pip_s, 1), "install_mb": round(du_mb(VENV)),
            "cuda_libs_mb": round(cuda), "torch": torch_v, "gradio": gradio_v, "cpu_index_reachable": reachable()}


def reachable(url: str = CPU_INDEX) -> bool:
    try:
        urllib.request.urlopen(url, timeout=10)
        return True
    except OSError:
        return False


def copy_repo() -> int:
    """The files an upload sends (tracked + new, not ignored) into a fresh folder; -> their count."""
    shutil.rmtree(APP, ignore_errors=True)
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    n = 0
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (APP / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, APP / f)
            n += 1
    return n


def digit_png(path: Path) -> Path:
    """A hand-drawn-looking 7 (black on white), for the endpoints that take an upload."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (280, 280), 255)
    ImageDraw.Draw(img).line([(70, 60), (210, 60), (120, 230)], fill=0, width=24)
    img.save(path)
    return path


def serve(port: int):
    """Start `python app.py` as a Space does; -> (process, seconds to the first HTTP 200 of "/")."""
    env = clean_env(GRADIO_SERVER_NAME="0.0.0.0", GRADIO_SERVER_PORT=str(port), SYSTEM="spaces",
                    SPACE_ID="local/imggen", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(VENV / "bin" / "python"), "app.py"], cwd=APP, env=env, start_new_session=True,
                            stdout=open(LOGS / "app.log", "w"), stderr=subprocess.STDOUT)
    while time.perf_counter() - t0 < 600:
        if proc.poll() is not None:
            log = (LOGS / "app.log").read_text()[-3000:]
            raise RuntimeError(f"app.py exited ({proc.returncode}) before serving:\n{log}")
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).status == 200:
                return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("no page within 600 s")


def call_all(port: int, digit: Path) -> dict:
    """Every named endpoint once, inputs by parameter name; -> {endpoint: {ok, seconds[, error]}}."""
    from gradio_client import Client, handle_file

    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    ctx, res = {"digit": handle_file(str(digit))}, {}
    for ep, info in named.items():
        t0 = time.perf_counter()
        try:
            if ep not in ARGS:
                raise KeyError(f"no inputs for {ep} in scripts/space_check.py ARGS: add them")
            table, args = ARGS[ep], []
            for p in info["parameters"]:
                name = p["parameter_name"]
                if name in table:
                    v = table[name]
                    args.append(v(ctx) if callable(v) else v)
                elif p["parameter_has_default"]:
                    args.append(p["parameter_default"])
                else:
                    raise KeyError(f"{ep}: parameter {name!r} has no default: add it to ARGS")
            job = client.submit(*args, api_name=ep)
            try:
                ctx[ep] = job.result(timeout=CALL_TIMEOUT_S)
            except TimeoutError:
                job.cancel()
                raise
            res[ep] = {"ok": True, "seconds": round(time.perf_counter() - t0, 2)}
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the others
            msg = " ".join(f"{type(e).__name__}: {e}".split())[:400]
            res[ep] = {"ok": False, "seconds": round(time.perf_counter() - t0, 2), "error": msg}
        r = res[ep]
        print(f"  {ep:<16} {'ok' if r['ok'] else 'FAILED'} {r['seconds']:7.2f} s  {r.get('error', '')}", flush=True)
    return res


def write(res: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "space.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    eps = res.get("endpoints", {})
    ok = sum(r["ok"] for r in eps.values())
    lines = [f"# Space rehearsal ({res['date']}, `make space-check`)", "",
             f"A clean Python {res['python']} venv from `requirements.txt` + gradio=={res['sdk_version']} and `spaces` "
             "(as a Space's builder installs them), the repo's "
             f"files copied as an upload sends them, `python app.py` with GRADIO_SERVER_NAME=0.0.0.0, SYSTEM=spaces; "
             f"{res['cpu_count']} CPUs here.", "",
             "| measure | value |", "|---|---|",
             f"| pip install (-r requirements.txt) | {res['pip_install_s']} s |",
             f"| installed venv | {res['install_mb']:,} MB (torch {res['torch']}; "
             f"CUDA libraries {res['cuda_libs_mb']:,} MB) |",
             f"| cold start: process start to first page (HTTP 200 of /) | {res.get('cold_start_s', '-')} s |",
             f"| endpoints | {ok} of {len(eps)} ok |", "",
             "| endpoint | seconds | result |", "|---|---:|---|"]
    lines += [f"| `{ep}` | {r['seconds']} | {'ok' if r['ok'] else 'FAILED: ' + r['error'].replace('|', '/')} |"
              for ep, r in eps.items()]
    if res["torch"].endswith("+cpu"):
        note = "torch is the +cpu build from PyTorch's CPU index, as on a Space."
    else:
        note = (f"This machine cannot reach {CPU_INDEX} (pip went on without it), so pip installed PyPI's torch "
                f"with its CUDA libraries; a Space gets the +cpu build and skips those {res['cuda_libs_mb']:,} MB.")
    (OUT / "space.md").write_text("\n".join(lines + ["", note, ""]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep-venv", action="store_true", help="reuse the last run's venv and its install figures")
    a = ap.parse_args(argv)
    meta = front_matter()
    LOGS.mkdir(parents=True, exist_ok=True)
    res = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "python": meta["python_version"],
           "sdk_version": meta["sdk_version"], "cpu_count": os.cpu_count(), "machine": platform.machine(),
           "files": copy_repo()}
    record = LOGS / "install.json"
    if a.keep_venv and record.exists() and VENV.exists():
        res.update(json.loads(record.read_text()))
    else:
        record.unlink(missing_ok=True)
        got = install(meta)
        record.write_text(json.dumps(got))
        res.update(got)
    print(f"venv {VENV}: {res['install_mb']:,} MB, pip {res['pip_install_s']} s, torch {res['torch']}", flush=True)
    port, proc = free_port(), None
    try:
        proc, cold = serve(port)
        res["cold_start_s"] = round(cold, 2)
        print(f"first page after {cold:.1f} s; calling every endpoint:", flush=True)
        res["endpoints"] = call_all(port, digit_png(LOGS / "digit.png"))
    except Exception as e:  # noqa: BLE001 - written to the results, then the exit status says it
        res["error"] = str(e)[-2000:]
        print(res["error"], file=sys.stderr)
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    res["ok"] = "error" not in res and all(r["ok"] for r in res.get("endpoints", {}).values())
    write(res)
    print(f"{'ok' if res['ok'] else 'FAILED'}: wrote {OUT / 'space.json'} and space.md (app log {LOGS / 'app.log'})")
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
