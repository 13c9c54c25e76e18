"""``psykhe login`` and ``psykhe logout``: the API key in the system keyring.

The keyring is optional (``psykhe[keyring]``); servers without one keep using
``PSYKHE_API_KEY`` or ``--api-key-file``. Which key wins is documented in ``config.py``.
"""

from __future__ import annotations

import typer

from psykhe_cli.commands.options import ProfileOption
from psykhe_cli.errors import UsageError

#: a key is one short line; more than this on stdin is not a key
_MAX_KEY_BYTES = 4096


def login(profile: ProfileOption = None) -> None:
    """Keep the private API key in the system keyring (needs psykhe[keyring]).

    On a terminal the key is asked for without echo; otherwise it is read from standard
    input (psykhe login < keyfile). The key is used when neither --api-key-file nor
    PSYKHE_API_KEY is set; with --profile NAME it belongs to [profiles.NAME].
    """
    import getpass
    import sys

    from psykhe_cli.config_file import DEFAULT_PROFILE, chosen_profile
    from psykhe_cli.keys import check_api_key, check_keyring, store_key

    name = chosen_profile(profile)
    label = name or DEFAULT_PROFILE
    check_keyring()  # before the key is asked for: it would have nowhere to go
    if sys.stdin.isatty():
        value = getpass.getpass(f"API key for profile {label} (sk_…, not shown): ")
    else:
        data = sys.stdin.buffer.read(_MAX_KEY_BYTES + 1)
        if len(data) > _MAX_KEY_BYTES:
            raise UsageError("standard input holds more than an API key")
        value = data.decode("utf-8-sig", errors="replace").removesuffix("\n").removesuffix("\r")
    key = check_api_key(value, source="psykhe login")
    backend = store_key(name, key)
    sys.stderr.write(f"psykhe: the key for profile {label} is in the keyring ({backend})\n")


def logout(profile: ProfileOption = None) -> None:
    """Remove the API key that psykhe login stored in the keyring."""
    import sys

    from psykhe_cli.config_file import DEFAULT_PROFILE, pick_profile
    from psykhe_cli.keys import delete_key

    name = pick_profile(profile)  # a profile removed from the config may still have a key
    label = name or DEFAULT_PROFILE
    if delete_key(name):
        sys.stderr.write(f"psykhe: removed the key for profile {label} from the keyring\n")
    else:
        sys.stderr.write(f"psykhe: the keyring held no key for profile {label}\n")


def register(app: typer.Typer) -> None:
    """Add ``login`` and ``logout`` to ``app``."""
    app.command(short_help="Keep the API key in the system keyring.")(login)
    app.command(short_help="Remove the API key from the system keyring.")(logout)
