"""Session-wide set-up: a private state directory, and fixtures defined in their own modules.

Every process the tests start inherits STORALLOC_STATE_DIR: keys and databases live in a
temporary directory of this session, never in the host's /var/lib/storalloc. Each
orchestrator also gets its own --state-dir (tests/procs.py), so no test restores another's
jobs.
"""

import os
import tempfile

from tests.installed import installed_venv

os.environ["STORALLOC_STATE_DIR"] = tempfile.mkdtemp(prefix="storalloc-tests-")

__all__ = ["installed_venv"]
