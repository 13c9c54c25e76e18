"""The sdist: a complete source tree whose tests run after unpacking; and the metadata."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from psykhe_cli.cli import run
from psykhe_cli.commands.sandbox import installed_by_pipx

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_sdist_holds_the_whole_tree_and_its_tests_pass_after_unpacking(tmp_path: Path) -> None:
    pytest.importorskip("build")
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(tmp_path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (sdist,) = tmp_path.glob("psykhe-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
        archive.extractall(tmp_path, filter="data")
    for needed in (
        "tests/__init__.py",
        "tests/conftest.py",
        "tests/helpers.py",
        "tests/keyring_backend.py",
        "docs/reliability.md",
        "completions/psykhe.bash",
        "completions/_psykhe",
        "completions/psykhe.fish",
        "examples/catalog.jsonl",
        "CHANGELOG.md",
        "README.md",
        "MANIFEST.in",
    ):
        assert needed in names, needed
    assert not any("__pycache__" in name for name in names)
    unpacked = tmp_path / sdist.name.removesuffix(".tar.gz")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PSYKHE_"))}
    env["PYTHONPATH"] = str(unpacked)
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
            "tests/test_config.py", "tests/test_docs.py", "tests/test_completions.py",
            "tests/test_push.py::test_push_insert_completes_and_reports",
        ],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
    # the unpacked tree's code ran, not this checkout's
    probe = subprocess.run(
        [sys.executable, "-c", "import psykhe_cli; print(psykhe_cli.__file__)"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.startswith(str(unpacked))


def test_metadata_has_keywords_classifiers_and_urls() -> None:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    versions = {c.rsplit(" ", 1)[-1] for c in project["classifiers"] if "Python :: 3." in c}
    assert versions == {"3.10", "3.11", "3.12", "3.13"}
    assert project["requires-python"] == ">=3.10"
    assert {"product feed", "ingestion", "cli"} <= set(project["keywords"])
    assert project["urls"]


@pytest.mark.parametrize(
    ("prefix", "pipx"),
    [
        ("/home/op/.local/share/pipx/venvs/psykhe", True),
        ("/home/op/.local/pipx/venvs/psykhe", True),
        ("/opt/pipx-home/venvs/psykhe", True),
        ("/home/op/.venvs/psykhe", False),
        ("/usr", False),
        ("/home/op/project/.venv", False),
    ],
)
def test_installed_by_pipx(prefix: str, pipx: bool) -> None:
    assert installed_by_pipx(prefix) is pipx


def test_missing_sandbox_extra_under_pipx_says_pipx_inject(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.setattr(sys, "prefix", "/home/op/.local/share/pipx/venvs/psykhe")
    assert run(["sandbox"]) == 4
    assert "psykhe: hint: pipx inject psykhe starlette uvicorn\n" in capsys.readouterr().err
