"""Project files: requirements.txt in sync, declared imports, LFS rules, README front matter, the CLI."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import gen_requirements  # noqa: E402


def test_requirements_in_sync_with_pyproject():
    assert (ROOT / "requirements.txt").read_text() == gen_requirements.render(), "run: make requirements"


def test_requirements_are_the_cpu_space_ones():
    lines = [ln for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "--extra-index-url https://download.pytorch.org/whl/cpu"  # torch X+cpu, no CUDA wheels
    assert not any(ln.startswith("opencv") for ln in lines)  # an optional extra (Telea only)


DIST = {"cv2": "opencv-python-headless", "PIL": "pillow", "skimage": "scikit-image", "sklearn": "scikit-learn",
        "imageio_ffmpeg": "imageio-ffmpeg", "yaml": "pyyaml"}  # import name -> distribution, where they differ


def _dist_name(req: str) -> str:
    return re.split(r"[\s<>=!~\[;]", req, maxsplit=1)[0].lower().replace("_", "-")


def _guarded(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``try: ... except ImportError`` (optional dependencies)."""
    def catches(h):
        names = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
        return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)
    return {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) and any(catches(h) for h in t.handlers if h.type)
            for b in t.body for n in ast.walk(b)}


FIRST_PARTY = ("imggen", "bench")  # the packages pyproject.toml ships ([tool.setuptools.packages.find])


def _third_party_imports(files, local=()) -> list[tuple[str, str, bool]]:
    """(file, top-level module, guarded) for each absolute import that is neither stdlib nor local."""
    out = []
    for f in files:
        tree = ast.parse(f.read_text())
        guarded = _guarded(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module]
            else:
                continue
            here = {p.stem for p in f.parent.glob("*.py")}
            out += [(str(f.relative_to(ROOT)), m.split(".")[0], id(node) in guarded) for m in mods
                    if m.split(".")[0] not in {*sys.stdlib_module_names, *FIRST_PARTY, *local, *here}]
    return out


def test_every_third_party_import_is_declared():
    """imggen/ and app.py import only pyproject's dependencies (optional extras only under ``except ImportError``);
    bench/ and scripts/ may also use the extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_dist_name(d) for d in project["dependencies"]}
    extra = {_dist_name(d) for ds in project["optional-dependencies"].values() for d in ds}
    missing = []
    for f, mod, guarded in _third_party_imports([ROOT / "app.py", *(ROOT / "imggen").rglob("*.py")]):
        dist = DIST.get(mod, mod.lower().replace("_", "-"))
        if dist not in (core | extra if guarded else core):
            missing.append(f"{f}: {mod} ({dist}{', in an extra but unguarded' if dist in extra else ''})")
    tools = [*(ROOT / "bench").glob("*.py"), *(ROOT / "scripts").glob("*.py")]
    local = {"tests", *(p.stem for p in [*ROOT.glob("*.py"), *(ROOT / "tests").glob("*.py")])}  # e.g. app.py and
    # the tests' helpers (tests/photo_corpus.py)
    for f, mod, _ in _third_party_imports(tools, local=local):
        if DIST.get(mod, mod.lower().replace("_", "-")) not in core | extra:
            missing.append(f"{f}: {mod}")
    assert not missing, "declare in pyproject.toml (then make requirements): " + "; ".join(sorted(set(missing)))


def test_tracked_binary_files_match_an_lfs_rule():
    """The Hub takes binaries only through Xet/LFS: each tracked binary file matches a .gitattributes LFS rule.
    (Here no LFS filter is installed, so the rules are inert and the files stay plain git objects.)"""
    git = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True)
    if git.returncode:
        pytest.skip("not a git checkout")
    files = [f for f in git.stdout.decode().split("\0") if f and (ROOT / f).is_file()]
    binary = [f for f in files if b"\0" in (ROOT / f).read_bytes()[:8000]]  # git's own binary test
    assert any(f.endswith(".safetensors") for f in binary)
    attrs = subprocess.run(["git", "check-attr", "filter", "--", *binary], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    not_lfs = [ln.split(": ")[0] for ln in attrs if not ln.endswith(": filter: lfs")]
    assert not not_lfs, f"add an LFS rule to .gitattributes for: {not_lfs}"


def test_readme_front_matter_for_spaces():
    text = (ROOT / "README.md").read_text()
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert m, "README.md must start with Hugging Face Space front matter"
    meta = dict(line.split(":", 1) for line in m.group(1).splitlines() if ":" in line)
    meta = {k.strip(): v.strip().strip('"') for k, v in meta.items()}
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["sdk_version"] == "6.31.0"
    assert meta["python_version"] == "3.11" and len(meta["short_description"]) <= 60
    assert meta["suggested_hardware"] == "cpu-basic" and meta["colorFrom"] and meta["colorTo"] and meta["emoji"]
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"gradio=={meta['sdk_version']}" in deps  # the Space installs gradio from sdk_version: the same pin
    body = text[m.end():]
    assert body.index("make run") < body.index("make test") < body.index("## ")  # the two commands come first


def _cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "imggen", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.slow
def test_cli_help():
    r = _cli("--help")
    assert r.returncode == 0
    for cmd in ("list", "sample", "train", "eval", "bench"):
        assert cmd in r.stdout


@pytest.mark.slow
def test_cli_list_runs():
    from imggen import registry

    r = _cli("list")
    assert r.returncode == 0, r.stderr
    shipped = set(registry._shipped()) - {"classifier-mnist"}  # not models registered in this test process
    for name in shipped:
        assert name in r.stdout


@pytest.mark.slow
def test_cli_sample_writes_png_with_recipe(tmp_path):
    from PIL import Image

    from imggen.convert import read_recipe

    out = tmp_path / "g.png"
    r = _cli("sample", "dcgan-mnist", "-n", "4", "--seed", "7", "--refine-steps", "3", "--keep", "0.5",
             "--out", str(out))
    assert r.returncode == 0, r.stderr
    recipe = read_recipe(Image.open(out))
    assert recipe["model"] == "dcgan-mnist" and recipe["seed"] == 7 and recipe["refine_steps"] == 3
    assert recipe["keep"] == 0.5
    r = _cli("sample", "dcgan-mnist", "-n", "4", "--keep", "0", "--out", str(out))
    assert r.returncode != 0 and "keep must be in (0, 1]" in r.stderr


def test_cli_train_init_continues_a_checkpoint(tmp_path):
    """train --init: the second phase starts from the first phase's weights, and the card sums both phases."""
    import torch

    from imggen import checkpoint
    from imggen.__main__ import main
    from imggen.registry import build

    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    tiny = '{"n_layer": 1, "n_head": 2, "n_embd": 16}'
    small = ["--data", "mnist5k", "--limit", "128", "--batch-size", "32", "--train-config", '{"eval_samples": 0}']
    main(["train", "pixelgpt", *small, "--max-steps", "3", "--config", tiny, "--lr", "1e-3", "--out", str(first)])
    main(["train", "pixelgpt", *small, "--max-steps", "2", "--lr", "1e-4", "--init", str(first), "--out", str(second)])
    rec = checkpoint.read_metadata(second)["recipe"]
    assert rec["steps"] == 5 and rec["sessions"] == 2 and rec["init"] == str(first)
    assert [h["steps"] for h in rec["history"]] == [3, 2] and [h["lr"] for h in rec["history"]] == [1e-3, 1e-4]
    assert checkpoint.read_metadata(second)["config"]["n_embd"] == 16  # the first phase's config, not the defaults
    a, b = (build("pixelgpt", **checkpoint.read_metadata(p)["config"]) for p in (first, second))
    checkpoint.load_weights(a, first), checkpoint.load_weights(b, second)
    w = "blocks.0.qkv.weight"
    assert not torch.equal(a.state_dict()[w], b.state_dict()[w])  # trained on
    assert (a.state_dict()[w] - b.state_dict()[w]).abs().max() < 0.05  # from the first phase, not a new init
    with pytest.raises(SystemExit, match="is a pixelgpt checkpoint, not vae"):
        main(["train", "vae", *small, "--max-steps", "1", "--init", str(first), "--out", str(tmp_path / "c")])


@pytest.mark.slow
@pytest.mark.parametrize("args,match", [(("sample", "no-such-model"), "unknown model"),
                                        (("bench", "no-such-bench"), "no benchmark")])
def test_cli_errors_are_clear(args, match):
    r = _cli(*args)
    assert r.returncode != 0 and match in (r.stdout + r.stderr)


def test_classifier_card_matches_metadata():
    from imggen.checkpoint import read_metadata
    from imggen.ui.models_tab import _count_params

    path = ROOT / "checkpoints" / "classifier-mnist.safetensors"
    meta, card = read_metadata(path), (ROOT / "checkpoints" / "classifier-mnist.md").read_text()
    assert f"{meta['metrics']['test_accuracy'] * 100:.2f} %" in card
    assert f"{_count_params(path):,}" in card and f"{meta['card']['train_seconds']} s" in card


def test_make_bootstraps_a_missing_venv(tmp_path):
    venv = tmp_path / "venv"
    r = subprocess.run(["make", "-n", "test", f"VENV={venv}"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert f"python3.11 -m venv {venv}" in out and f"{venv}/bin/python -m pip install -e '.[test,extras]'" in out
    assert out.index("-m venv") < out.index("pip install") < out.index("-m pytest")
    assert "apt-get install -y chromium" in out
    r = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "app.py" in r.stdout
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci and "make test" in ci


def test_core_never_imports_gradio():
    pkg = ROOT / "imggen"
    core = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in [*pkg.glob("*.py"), *pkg.glob("models/*.py"),
                                                                  *pkg.glob("training/*.py")]]
    core = [m.removesuffix(".__init__") for m in core if not m.endswith("__main__")]
    code = ("import importlib, sys\n"
            f"for m in {core!r}: importlib.import_module(m)\n"
            "bad = sorted(m for m in sys.modules if m == 'gradio' or m.startswith('gradio.'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_is_short_and_doc_links_resolve():
    """README.md stays a front page (≤ 160 lines, none over 200 characters; history goes to docs/lab-notes.md), and
    every relative link in README.md, docs/*.md and bench/results/README.md points at a file or folder that exists."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 160, f"README.md has {len(lines)} lines (at most 160): move detail to docs/ or bench/results/"
    assert not [n for n, ln in enumerate(lines, 1) if len(ln) > 200], "README.md: lines over 200 characters"
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "results" / "README.md"]
    checked, broken = 0, []
    for doc in docs:
        text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)  # code blocks hold no links
        targets = [*re.findall(r"\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)", text),  # [text](target "title")
                   *re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", text)]
        for target in targets:
            if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:|#", target):  # https:, mailto:, a heading on the same page
                continue
            path = target.split("#")[0]
            checked += 1
            if not (ROOT / path.lstrip("/") if path.startswith("/") else doc.parent / path).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert checked >= 20, f"only {checked} relative links found: is the link pattern still right?"
    assert not broken, f"relative links to missing files: {broken}"
