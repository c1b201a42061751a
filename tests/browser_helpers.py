"""Helpers of the browser tests (tests/test_browser.py, tests/test_standalone_page.py): where
Debian's Chromium is and how it is started, and axe-core from npm. The ``browser`` fixture that
starts Chromium is in tests/conftest.py."""

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scratchcnn-tests" / "axe-core"


def axe_core_script():
    """axe-core's browser script (a Path), installed from npm into a cache folder on first use;
    None when npm is missing or cannot install it (each test says what it does then)."""
    script = AXE_CACHE / "node_modules" / "axe-core" / "axe.min.js"
    npm = shutil.which("npm")
    if not script.is_file() and npm is not None:
        AXE_CACHE.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(AXE_CACHE), "axe-core@4"],
                           capture_output=True, text=True, timeout=180)
        except subprocess.TimeoutExpired:
            pass
    return script if script.is_file() else None
