"""The README's operator part is true: its quick start, run as written against the sandbox
with each shop's sample export, ends in a full sync; its claims about options hold."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from psykhe_cli.ingestion import STATUS_COMPLETED
from psykhe_cli.sandbox.inspect import SandboxHandle
from tests.helpers import FAST, isolated_env, psykhe, run_in_pty

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SAMPLES = ROOT / "tests" / "samples"
#: the file name the quick start uses for the shop's export
EXPORT = "products_export.csv"


def quick_start() -> list[list[str]]:
    """The commands of the README's quick start, split as a shell would (comments dropped)."""
    marker = README.index("<!-- quick start:")
    block = re.search(r"```sh\n(.*?)```", README[marker:], flags=re.DOTALL)
    assert block is not None
    return [shlex.split(line, comments=True) for line in block[1].splitlines() if line.strip()]


def test_readme_opens_with_the_two_commands_for_a_fresh_machine() -> None:
    assert README.startswith(
        "# psykhe\n\n```sh\n"
        "python -m pip install -e '.[dev]' && psykhe sandbox exec -- psykhe push "
        "examples/catalog.jsonl --mode soft_replace --yes\n"
        "python -m pytest -n 2\n```\n"
    )
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == "python -m pytest -n 2"
    # the operator's part follows at once, before any reference section
    headings = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert headings[:4] == [
        "What psykhe is",
        "Install",
        "Quick start: from a shop export to a full sync",
        "From cron",
    ]
    assert headings[-1] == "Working on psykhe"
    assert "[docs/architecture.md](docs/architecture.md)" in README


def test_readme_quick_start_is_three_psykhe_commands_on_one_export() -> None:
    commands = quick_start()
    assert len(commands) == 3
    assert all(command[0] == "psykhe" and EXPORT in command for command in commands)
    assert commands[-1][1:] == ["push", EXPORT, "--mode", "soft_replace"]


@pytest.mark.parametrize(
    ("export", "products"),
    [
        (SAMPLES / "shopify_products.csv", 4),
        (SAMPLES / "woocommerce_products.csv", 4),
        (SAMPLES / "gmc" / "products.tsv", 3),
    ],
    ids=["shopify", "woocommerce", "merchant-center"],
)
def test_readme_quick_start_runs_from_a_shop_export_to_a_full_sync(
    tmp_path: Path, sandbox: SandboxHandle, export: Path, products: int
) -> None:
    env = isolated_env(tmp_path / "home", sandbox.env() | {"TERM": "xterm", "COLUMNS": "120"})
    named = [[str(export) if arg == EXPORT else arg for arg in c[1:]] for c in quick_start()]
    *checks, sync = named
    for args in checks:
        out = psykhe(*args, env=env)
        assert out.returncode == 0, (args, out.stderr)
    assert sandbox.ingestions() == []  # validate and the dry run send nothing
    # an operator at a terminal: the full sync asks, and is answered yes
    code, screen = run_in_pty([*sync, *FAST], env=env, answers={b"[y/N]": b"y\n"})
    text = screen.decode(errors="replace")
    assert code == 0, text
    assert "completed" in text
    (ingestion,) = sandbox.ingestions()
    assert ingestion["trigger_source"]["mode"] == "soft_replace"
    assert ingestion["status"] == STATUS_COMPLETED
    assert len({item["product_identifier"] for item in sandbox.products(active=True)}) == products


#: the README's sentence on ``--quiet``
_FLAT = " ".join(README.split())


@pytest.mark.parametrize(
    "command",
    [
        ["push"],
        ["validate"],
        ["status"],
        ["login"],
        ["logout"],
        ["sandbox"],
        ["sandbox", "exec"],
        ["completion"],
    ],
    ids=" ".join,
)
def test_readme_says_every_command_takes_quiet(tmp_path: Path, command: list[str]) -> None:
    env = isolated_env(tmp_path / "home")
    assert "-q, --quiet" in psykhe(*command, "--help", env=env).stdout
    assert "`--quiet` (`-q`, on every command)" in _FLAT


def test_validate_debug_help_does_not_promise_requests(tmp_path: Path) -> None:
    env = isolated_env(tmp_path / "home")
    text = " ".join(psykhe("validate", "--help", env=env).stdout.split())
    assert "--debug Show the traceback when psykhe fails for a reason other than the feed." in text
    assert "request" not in text.lower()
