"""Shared fixtures: the app launched in-process on a free port, driven by gradio_client (and a browser)."""
import os
import socket
import sys
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no version-check thread / network in tests
os.environ.setdefault("GRADIO_RUN_HISTORY", "False")
os.environ.setdefault("IMGGEN_DEVICE", "cpu")  # the suite expects CPU numbers; tests/training/test_cuda.py asks for CUDA itself

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
ARTIFACTS = TESTS / "artifacts"
for path in (ROOT, TESTS):  # `import app` from the repo root; shared helpers (imagefiles, browser_page...) from tests/
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def load_bench():
    """``load_bench("gan")`` -> the module bench.gan (bench/gan.py)."""
    import importlib

    return lambda name: importlib.import_module(f"bench.{name}")


@pytest.fixture(scope="session")
def app_module():
    import app

    return app


@pytest.fixture(scope="session")
def app_url(app_module):
    """URL of the real app (same build and launch settings as `make run`), launched once per session."""
    demo = app_module.demo
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                            quiet=True, **app_module.launch_kwargs())
    yield url
    demo.close()


@pytest.fixture(scope="session")
def client(app_url, tmp_path_factory):
    """gradio_client on the running app; image outputs are downloaded as local files."""
    from gradio_client import Client

    return Client(app_url, verbose=False, download_files=str(tmp_path_factory.mktemp("client-downloads")))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """tests/artifacts/ (git-ignored): screenshots and other files worth looking at after a run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
