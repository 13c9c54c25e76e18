"""Where the API key comes from: a key file, ``PSYKHE_API_KEY``, the keyring, the config file.

The order is ``config.py``'s. The keyring is optional: it is read only when the ``keyring``
package is installed, under service ``psykhe`` and user NAME (``default`` for the top level).
A keyring that cannot be used (no keyring service on a headless server, a backend named by
``PYTHON_KEYRING_BACKEND`` that cannot be loaded) is passed over — with a warning when it is
broken — by the commands that can go on without it, and is an error only for ``psykhe login``
and ``psykhe logout``, which have nothing else to do.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from psykhe_cli.config_file import DEFAULT_PROFILE, ProfileTable, read_private_file
from psykhe_cli.errors import ConfigError, MissingKeyError
from psykhe_cli.secret import Secret

ENV_API_KEY = "PSYKHE_API_KEY"
#: the keyring service under which ``psykhe login`` stores keys (user: the profile's name)
KEYRING_SERVICE = "psykhe"
#: the variable with which the keyring package lets anyone name its backend
ENV_KEYRING_BACKEND = "PYTHON_KEYRING_BACKEND"
#: what to do on a machine where no keyring keeps the key
NO_KEYRING_HINT = (
    "for a keyring in a file: pip install keyrings.alt (or: pipx inject psykhe keyrings.alt); "
    'or keep the key in a file (mode 600): api_key_file = "PATH" in the config file, '
    "or --api-key-file PATH"
)


def pick_api_key(
    key_file: Path | str | None,
    env: Mapping[str, str],
    table: ProfileTable,
    profile: str | None,
    on_warning: Callable[[str], None],
) -> tuple[Secret, str]:
    """The key and where it came from ("PSYKHE_API_KEY", "--api-key-file PATH", …), first
    found in ``config.py``'s order; ``MissingKeyError`` when there is none."""
    if key_file is not None:
        path = Path(key_file)
        source = f"--api-key-file {path}"
        return check_api_key(read_key_file(path), source=source), source
    if ENV_API_KEY in env:
        return check_api_key(env[ENV_API_KEY], source=ENV_API_KEY), ENV_API_KEY
    stored = keyring_key(profile, on_warning)
    if stored is not None:
        source = f"the keyring (psykhe login{f' --profile {profile}' if profile else ''})"
        return check_api_key(stored, source=source), source
    if table.api_key is not None:
        source = table.where.removeprefix("the config file ")
        return check_api_key(table.api_key, source=source), source
    if table.api_key_file is not None:
        source = str(table.api_key_file)
        return check_api_key(read_key_file(table.api_key_file), source=source), source
    where = table.where.removeprefix("the config file ")
    raise MissingKeyError(
        "no API key: set one of "
        f"the {ENV_API_KEY} environment variable, "
        "--api-key-file PATH (a file holding only the key, mode 600), "
        f'api_key = "sk_..." in {where} (mode 600), or the keyring with psykhe login'
        + (f" --profile {profile}" if profile else "")
    )


def check_api_key(value: str, *, source: str) -> Secret:
    """Refuse an empty, public (``pk_``), whitespace-containing, non-ASCII or non-``sk_`` key."""
    if not value:
        raise ConfigError(f"the API key from {source} is empty")
    if value.startswith("pk_"):
        raise ConfigError(
            f"the API key from {source} is a public key (pk_…), which cannot ingest; "
            "use the private key (sk_…)"
        )
    if any(ch.isspace() for ch in value):
        raise ConfigError(f"the API key from {source} contains whitespace")
    if not (value.isascii() and value.isprintable()):
        raise ConfigError(f"the API key from {source} contains non-ASCII or control characters")
    if not value.startswith("sk_"):
        # the API answers 401 to any other key: say so before a feed is read and spooled
        raise ConfigError(
            f"the API key from {source} does not look like a private key: "
            "private keys start with sk_"
        )
    return Secret(value)


def read_key_file(path: Path) -> str:
    """The key in ``path``: the file's text without one trailing line ending."""
    data = read_private_file(path, what="API key file")
    # one trailing line ending, as `echo KEY > file` leaves it; anything else is refused
    return data.removesuffix("\n").removesuffix("\r")


# --- the keyring ----------------------------------------------------------------------------


def keyring_key(profile: str | None, on_warning: Callable[[str], None]) -> str | None:
    """The key ``psykhe login`` stored for ``profile``; None without a usable keyring (a
    broken one is reported to ``on_warning``)."""
    try:
        import keyring.errors
    except ImportError:
        return None
    try:
        return _backend().get_password(KEYRING_SERVICE, profile or DEFAULT_PROFILE)  # type: ignore[no-any-return]
    except keyring.errors.NoKeyringError:  # e.g. a headless server: the usual case, no news
        return None
    except ConfigError as exc:
        on_warning(f"{exc.message}; going on without it")
    except Exception as exc:  # a backend is anyone's code: whatever it raises, go on without
        on_warning(f"the keyring could not be read ({_failure(exc)}); going on without it")
    return None


def check_keyring() -> None:
    """``ConfigError`` (with what to do) when no keyring can keep a key: the package is
    missing, its backend cannot be loaded, or this machine has no keyring service."""
    from keyring.backends import fail

    if isinstance(_backend(), fail.Keyring):
        raise _no_service()


def store_key(profile: str | None, key: Secret) -> str:
    """Keep ``key`` in the keyring for ``profile`` and read it back; returns the keyring's
    name. ``ConfigError`` when the keyring cannot be used or does not give the key back."""
    backend = _backend()
    name = str(getattr(backend, "name", type(backend).__name__))
    user = profile or DEFAULT_PROFILE
    try:
        backend.set_password(KEYRING_SERVICE, user, key.reveal())
        stored = backend.get_password(KEYRING_SERVICE, user)
    except Exception as exc:  # a backend is anyone's code; its words may hold the key
        raise _refused(exc, "refused the key", key) from None
    if not isinstance(stored, str) or not hmac.compare_digest(stored, key.reveal()):
        raise ConfigError(
            f"the keyring ({name}) took the key but does not give it back: it is not kept",
            hint=NO_KEYRING_HINT,
        )
    return name


def delete_key(profile: str | None) -> bool:
    """Remove ``profile``'s key from the keyring; False when there was none."""
    import keyring.errors

    backend = _backend()
    try:
        backend.delete_password(KEYRING_SERVICE, profile or DEFAULT_PROFILE)
    except keyring.errors.PasswordDeleteError:
        return False
    except Exception as exc:  # a backend is anyone's code
        raise _refused(exc, "refused to remove the key", None) from None
    return True


def _backend() -> Any:
    """The keyring's backend; ``ConfigError`` when the package is missing or the backend
    it is told to use cannot be loaded."""
    try:
        import keyring
    except ImportError:
        raise ConfigError(
            "the keyring is not available: the keyring package is not installed",
            hint="pip install 'psykhe[keyring]' (or: pipx inject psykhe keyring); "
            "on a server without a keyring use PSYKHE_API_KEY or --api-key-file",
        ) from None
    try:
        return keyring.get_keyring()
    except Exception as exc:  # the backend is named by a variable or a file: any import fails
        named = os.environ.get(ENV_KEYRING_BACKEND)
        which = f"{ENV_KEYRING_BACKEND}={named}" if named else "the configured keyring backend"
        raise ConfigError(
            f"the keyring cannot be used: {which} cannot be loaded ({_failure(exc)})",
            hint=f"unset {ENV_KEYRING_BACKEND}, or name an installed backend "
            "(python -m keyring --list-backends)",
        ) from None


def _refused(exc: Exception, what: str, key: Secret | None) -> ConfigError:
    import keyring.errors

    if isinstance(exc, keyring.errors.NoKeyringError):
        return _no_service()
    text = _failure(exc)
    return ConfigError(f"the keyring {what}: {key.scrub(text) if key else text}")


def _no_service() -> ConfigError:
    return ConfigError(
        "the keyring cannot be used: this machine has no keyring service", hint=NO_KEYRING_HINT
    )


def _failure(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
