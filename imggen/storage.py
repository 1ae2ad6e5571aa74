"""Files the app writes for visitors, and their clean-up: per-visitor models expire, published ones too, output
files (GIF/MP4/downloads) are removed by age, and leftovers of an interrupted save are removed at start."""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

WORKSPACE_TTL_S = float(os.environ.get("IMGGEN_WORKSPACE_TTL", 2 * 3600))  # a visitor's models, after their last save
PUBLIC_TTL_S = float(os.environ.get("IMGGEN_PUBLIC_TTL", 24 * 3600))  # a published model, after publishing
OUTPUT_TTL_S = float(os.environ.get("IMGGEN_OUTPUT_TTL", 3600))  # files made for one response
JANITOR_EVERY_S = 300.0
SIDE_FILES = (".anomaly.json", ".directions.json")  # caches written next to a checkpoint
PROCESS_TOKEN = f"p{os.getpid()}-{int(time.time())}"  # this app process's folder under <runs>/ws


def output_dir() -> Path:
    d = Path(os.environ.get("IMGGEN_OUTPUT_DIR") or Path(tempfile.gettempdir()) / "imggen-outputs")
    d.mkdir(parents=True, exist_ok=True)
    return d


def output_file(suffix: str, prefix: str = "imggen-") -> str:
    """A new file path for one response (GIF, MP4, ...), removed after OUTPUT_TTL_S."""
    fd, path = tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=output_dir())
    os.close(fd)
    return path


def offer(files) -> list[str]:
    """Copies of ``files`` for download (their names kept), removed after OUTPUT_TTL_S."""
    d = Path(tempfile.mkdtemp(prefix="imggen-dl-", dir=output_dir()))
    return [str(shutil.copy(f, d / Path(f).name)) for f in files]


def keep_copy(path: str | Path, folder: str | Path) -> str:
    """A copy of an uploaded file in ``folder`` (named by its content), for work that outlives the upload."""
    src = Path(path)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    dst = Path(folder) / f"upload-{digest}{src.suffix}"
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return str(dst)


def remove_model(path: str | Path) -> None:
    """A checkpoint with its progress GIF and side caches."""
    p = Path(path)
    stem = p.name.removesuffix(".safetensors")
    for f in [p, p.with_name(f"{stem}-progress.gif"), *[p.with_name(stem + s) for s in SIDE_FILES]]:
        f.unlink(missing_ok=True)


def clean_old(folder: str | Path, age_s: float, pattern: str = "*") -> int:
    """Remove what in ``folder`` (files and folders matching ``pattern``) was last changed over ``age_s`` ago."""
    n, now = 0, time.time()
    for p in Path(folder).glob(pattern) if Path(folder).is_dir() else []:
        try:
            if now - p.stat().st_mtime > age_s:
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                n += 1
        except OSError:
            pass
    return n


def remove_stale_temp(*folders: str | Path) -> int:
    """Temp files an interrupted atomic save left behind (``.<name>.safetensors.*.tmp``, any depth)."""
    n = 0
    for folder in folders:
        for p in Path(folder).rglob(".*.tmp") if Path(folder).is_dir() else []:
            p.unlink(missing_ok=True)
            n += 1
    return n


def expire(runs_dir: str | Path, service=None, now: float | None = None) -> dict:
    """Forget and delete visitors' models unchanged for WORKSPACE_TTL_S (their runs and uploads too; only files
    under ``runs_dir``/ws: never the host's own models nor shipped ones) and published models older than
    PUBLIC_TTL_S; remove output files older than OUTPUT_TTL_S. Returns counts."""
    from . import registry

    now, ws = now or time.time(), Path(runs_dir).resolve() / "ws"
    gone = {"models": 0, "published": 0, "outputs": 0, "files": 0}
    live: set = set()
    for (owner, name), path in registry.workspace_models().items():
        if owner is None or ws not in Path(path).resolve().parents:
            continue  # registered by the host (CLI, scripts): theirs to manage
        try:
            old = now - Path(path).stat().st_mtime > WORKSPACE_TTL_S
        except OSError:
            old = True
        if old and not (service and _busy(service, owner)):
            registry.unregister(name, owner=owner)
            remove_model(path)
            gone["models"] += 1
        else:
            live.add(owner)
    if service is not None:
        for owner in list(getattr(service, "_runs", {})):
            if owner not in live and not _busy(service, owner):
                service.forget(owner)
        service.reap()
    busy_dirs = {Path(j.spec.out).parent for j in getattr(service, "_jobs", {}).values()} if service else set()
    for folder in ws.glob("*/*") if ws.is_dir() else []:  # uploads, GIFs, side files of runs nobody holds
        if folder not in busy_dirs:
            gone["files"] += clean_old(folder, WORKSPACE_TTL_S)
    for name, path in registry.published().items():
        try:
            old = now - Path(path).stat().st_mtime > PUBLIC_TTL_S
        except OSError:
            old = True
        if old:
            registry.unpublish(name)
            remove_model(path)
            gone["published"] += 1
    gone["outputs"] = clean_old(output_dir(), OUTPUT_TTL_S)
    return gone


def _busy(service, owner) -> bool:
    job = service.current(owner)
    return job is not None and not job.done


_janitor: threading.Thread | None = None


def start_janitor(runs_dir: str | Path, service=None, every_s: float = JANITOR_EVERY_S) -> None:
    """Once per process: remove leftovers of earlier runs now (interrupted saves, expired workspaces of earlier
    processes, old outputs), serve what was published before, then expire old files every ``every_s``."""
    global _janitor
    if _janitor is not None:
        return
    from . import registry

    runs_dir = Path(runs_dir)
    remove_stale_temp(registry.CHECKPOINT_DIR, runs_dir)
    clean_old(output_dir(), OUTPUT_TTL_S)
    clean_old(runs_dir / "ws", WORKSPACE_TTL_S)  # other processes' folders, once nothing changed for the TTL
    for path in sorted((runs_dir / "public").glob("*.safetensors")):  # published ones stay published
        try:
            registry.publish_file(path)
        except ValueError:
            path.unlink(missing_ok=True)

    def loop():
        while True:
            time.sleep(every_s)
            try:
                expire(runs_dir, service)
            except Exception as e:  # keep cleaning next time
                print(f"imggen janitor: {type(e).__name__}: {e}")

    _janitor = threading.Thread(target=loop, daemon=True, name="imggen-janitor")
    _janitor.start()
