"""The contract gate (interop/breaking, `buf breaking` with FILE rules): this repository's
history passes it, and in scratch clones it fails a breaking change (committed on main, on a
branch, or uncommitted) and passes an addition or a new package version.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest

from support import ROOT

SCRIPT = str(ROOT / "interop" / "breaking")
BUF = str(ROOT / ".tools" / "node_modules" / ".bin" / "buf")
V1 = Path("proto/unico/identity/v1")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "interop",
    "GIT_AUTHOR_EMAIL": "interop@invalid",
    "GIT_COMMITTER_NAME": "interop",
    "GIT_COMMITTER_EMAIL": "interop@invalid",
}


def gate(repo: Path, **env):
    return subprocess.run(
        ["bash", SCRIPT, str(repo)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "BUF": BUF, **env},
        check=False,
    )


def test_this_repository_passes():
    result = gate(ROOT)
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    skipped = [line for line in result.stdout.splitlines() if line.startswith("skipped:")]
    if skipped:
        pytest.skip(f"interop/breaking {skipped[0]}")


@pytest.fixture
def clone(tmp_path):
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True, timeout=60)
    return repo


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, timeout=60, env={**os.environ, **GIT_ENV},
                   capture_output=True)


def edit(repo, path, pattern, replacement):
    file = repo / path
    text = file.read_text()
    changed = re.sub(pattern, replacement, text, count=1)
    assert changed != text, f"{pattern} not in {path}"
    file.write_text(changed)


def rename_a_field(repo):
    edit(repo, V1 / "process_service.proto", r"string dui_value = 3\b", "string dui_number = 3")


def commit(repo, message):
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def test_a_breaking_change_committed_on_main_fails(clone):
    rename_a_field(clone)
    commit(clone, "rename a field")
    result = gate(clone)
    assert result.returncode == 1, result.stdout + result.stderr
    assert 'changed name from "dui_value" to "dui_number"' in result.stdout
    # Still caught once a later commit touches something else.
    (clone / "README.md").write_text("later\n")
    commit(clone, "docs")
    assert gate(clone).returncode == 1


def test_a_breaking_change_on_a_branch_fails_against_the_merge_base(clone):
    git(clone, "checkout", "-q", "-b", "feature")
    rename_a_field(clone)
    commit(clone, "rename a field")
    result = gate(clone)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "merge base with main" in result.stdout


def test_an_uncommitted_breaking_change_fails(clone):
    edit(clone, V1 / "identifiers.proto", r"\n  DUI_TYPE_ID_NIK = 6;", "")
    result = gate(clone)
    assert result.returncode == 1, result.stdout + result.stderr


def test_an_addition_passes(clone):
    edit(
        clone,
        V1 / "process_service.proto",
        r"  string dui_type_name = 3;\n",
        "  string dui_type_name = 3;\n  // Added later.\n  string added = 4;\n",
    )
    commit(clone, "add a field")
    result = gate(clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no breaking change" in result.stdout


def test_a_new_package_version_passes(clone):
    v2 = Path("proto/unico/identity/v2")
    git(clone, "mv", str(V1), str(v2))
    for proto in (clone / v2).glob("*.proto"):
        text = proto.read_text().replace("unico.identity.v1", "unico.identity.v2")
        proto.write_text(text.replace("unico/identity/v1/", "unico/identity/v2/"))
    commit(clone, "v2")
    result = gate(clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "package version changed" in result.stdout
