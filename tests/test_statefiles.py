"""statefiles: regular files of bounded size, and full-syncs.json validated as a whole."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from psykhe_cli.errors import ConfigError
from psykhe_cli.statefiles import full_syncs_document, read_state_file

FP = "0123456789abcdef"


def test_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_state_file(tmp_path / "absent", 10) is None


def test_a_device_or_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero"), tmp_path):
        with pytest.raises(ConfigError, match=r"is not a regular file|cannot be read"):
            read_state_file(path, 10)


def test_a_file_over_its_limit_is_refused_or_read_from_its_end(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"first line\nsecond\nthird\n")
    with pytest.raises(ConfigError, match=f"the state file {path} is larger than"):
        read_state_file(path, 10)
    assert read_state_file(path, 10, tail=True) == b"third\n"
    assert read_state_file(path, 100, tail=True) == b"first line\nsecond\nthird\n"


def _write(path: Path, targets: dict[str, object]) -> Path:
    path.write_text(json.dumps({"version": 2, "targets": targets}))
    return path


def test_entries_come_back_under_their_canonical_names(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "full-syncs.json",
        {
            f"http://127.0.0.1:8/. key:{FP}": {
                "base_url": "http://127.0.0.1:8/.",
                "key_fingerprint": FP,
                "products": 5,
            },
            f"http://127.0.0.1:8 key:{FP}": {
                "base_url": "http://127.0.0.1:8",
                "key_fingerprint": FP,
                "products": 9,
            },
            "https://a.example profile:shop": {
                "base_url": "https://a.example",
                "key_fingerprint": "ffff",
                "pending": [{"products": 3, "ingestion_id": 4}],
            },
        },
    )
    targets = full_syncs_document(path)
    assert sorted(targets) == [
        "http://127.0.0.1:8 key:" + FP,
        "https://a.example profile:shop",
    ]
    assert targets["http://127.0.0.1:8 key:" + FP]["products"] == 9  # the larger memory wins


@pytest.mark.parametrize(
    "entry",
    [
        {"base_url": "https://a.example", "key_fingerprint": FP, "variants": 3},
        {"base_url": "https://a.example", "key_fingerprint": FP, "time": "x"},
        {"base_url": "https://a.example", "key_fingerprint": FP, "products": 1.5},
        {"base_url": "https://a.example", "key_fingerprint": "other", "products": 1},
        {"base_url": "https://b.example", "key_fingerprint": FP, "products": 1},
        {"base_url": "https://a.example", "products": 1},
        {
            "base_url": "https://a.example",
            "key_fingerprint": FP,
            "pending": [{"products": 1, "ingestion_id": 2}, {"products": 3, "ingestion_id": 2}],
        },
        {"base_url": "https://a.example", "key_fingerprint": FP, "pending": [None]},
    ],
)
def test_an_inconsistent_entry_is_damaged(tmp_path: Path, entry: dict[str, object]) -> None:
    path = _write(tmp_path / "full-syncs.json", {f"https://a.example key:{FP}": entry})
    with pytest.raises(ConfigError, match=f"the state file {path} is damaged"):
        full_syncs_document(path)


def test_a_name_that_is_no_target_is_damaged(tmp_path: Path) -> None:
    entry = {"base_url": "https://a.example", "key_fingerprint": FP, "products": 1}
    path = _write(tmp_path / "full-syncs.json", {"https://a.example": entry})
    with pytest.raises(ConfigError, match="is damaged"):
        full_syncs_document(path)


def test_keys_of_a_later_version_are_kept(tmp_path: Path) -> None:
    entry = {"base_url": "https://a.example", "key_fingerprint": FP, "products": 1, "new": [1]}
    path = _write(tmp_path / "full-syncs.json", {f"https://a.example key:{FP}": entry})
    assert full_syncs_document(path)[f"https://a.example key:{FP}"]["new"] == [1]
