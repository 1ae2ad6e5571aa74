"""Write requirements.txt (for Hugging Face Spaces, which ignore pyproject.toml) from pyproject's dependencies.

The file is the CPU Space's: it names PyTorch's CPU index as an extra index, so pip there installs torch==X+cpu (no CUDA
libraries); the optional extras (e.g. OpenCV for Telea) are left out.

Usage: python scripts/gen_requirements.py [--check]   (--check: exit 1 when requirements.txt is out of date)
"""
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
# Generated from pyproject.toml by scripts/gen_requirements.py (make requirements); do not edit.
# For a CPU Hugging Face Space, which installs this file (not pyproject.toml). The PyTorch CPU index below holds
# torch/torchvision as X+cpu wheels without the CUDA libraries (GBs smaller); pip takes them over PyPI's X because a
# local label sorts higher. Where that index is unreachable pip only warns (after its retries) and installs PyPI's.
# gradio's pin equals README's sdk_version (the Space installs that one); optional extras (OpenCV) are left out.
"""
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu\n"


def render(pyproject: Path = ROOT / "pyproject.toml") -> str:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return HEADER + CPU_INDEX + "".join(f"{d}\n" for d in deps)


def main(argv: list[str]) -> int:
    out, text = ROOT / "requirements.txt", render()
    if "--check" in argv:
        ok = out.exists() and out.read_text() == text
        print("requirements.txt is up to date" if ok else "requirements.txt is stale: run make requirements")
        return 0 if ok else 1
    out.write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
