"""Every test under tests/browser/ drives a real browser: it is marked ``browser`` here, so `make test-fast` leaves
it out without each file having to say so."""
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.browser)
