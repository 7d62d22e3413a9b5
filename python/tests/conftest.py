import os
import shutil

import pytest


@pytest.fixture
def qis_bin():
    """The `qis` binary of this build (scripts/test sets QIS_BIN)."""
    path = os.environ.get("QIS_BIN") or shutil.which("qis")
    if not path:
        pytest.fail("QIS_BIN is not set: run the tests through scripts/test")
    return path
