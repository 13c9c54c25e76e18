"""A keyring backend of the tests' own: a JSON file named by ``TEST_KEYRING_FILE``.

Select it with ``PYTHON_KEYRING_BACKEND=tests.keyring_backend.FileKeyring`` (subprocesses) or
``keyring.set_keyring(FileKeyring())`` (in-process); no OS keyring is touched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

BACKEND = "tests.keyring_backend.FileKeyring"


class FileKeyring(KeyringBackend):
    """Passwords in a JSON file: ``{"service/user": password}``."""

    priority = 1  # type: ignore[assignment]
    name = "test file keyring"  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        return json.loads(self._path.read_text()) if self._path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}/{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        entries = self._load()
        entries[f"{service}/{username}"] = password
        self._path.write_text(json.dumps(entries))

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        if entries.pop(f"{service}/{username}", None) is None:
            raise PasswordDeleteError("no such password")
        self._path.write_text(json.dumps(entries))
