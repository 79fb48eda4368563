"""ringkv-cli check DIR: the offline checksum check of a data directory.

The server does not use the LSM engine yet, so there is no server-written
directory to check; the engine's own unit test (src/engine/lsm_check_test.c)
covers real stores and damage to each kind of file.
"""

import os
import subprocess

import pytest

from servers import RINGKV_SERVER

pytestmark = pytest.mark.ringkv_only

CLI = os.environ.get("RINGKV_CLI") or os.path.join(os.path.dirname(RINGKV_SERVER), "ringkv-cli")


def check(path):
    if not os.path.exists(CLI):
        pytest.fail("ringkv-cli not built at %s" % CLI)
    return subprocess.run([CLI, "check", str(path)], capture_output=True, text=True, timeout=60)


def test_check_of_an_empty_directory_is_clean(tmp_path):
    out = check(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "checked 0 files, 0 bytes: 0 problems" in out.stdout


def test_check_of_a_garbage_current_names_it(tmp_path):
    (tmp_path / "CURRENT").write_bytes(b"garbage\x00\xff")
    out = check(tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "CURRENT" in out.stdout
    assert "1 problems" in out.stdout


def test_check_of_a_missing_directory_is_a_usage_error(tmp_path):
    out = check(tmp_path / "nope")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "cannot check" in out.stderr


def test_check_without_a_directory_is_a_usage_error():
    if not os.path.exists(CLI):
        pytest.fail("ringkv-cli not built at %s" % CLI)
    out = subprocess.run([CLI, "check"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
