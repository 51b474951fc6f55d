"""Secret references in configs: ``env:NAME``, ``file:PATH`` or ``secrets:NAME``.

``secrets:NAME`` is an entry of ``<state dir>/secrets.json`` (mode 0600), where ``perpflow dev``
keeps the keys it generates. The value itself never enters a config, a log or an exception.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from pydantic import SecretStr

from perpflow.errors import ConfigError


def resolve(ref: str, state_dir: Path) -> SecretStr:
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if not value:
            raise ConfigError(f"secret {ref}: environment variable {name} is not set")
        return SecretStr(value)
    if scheme == "file":
        try:
            return SecretStr(Path(name).read_text().strip())
        except OSError as exc:
            raise ConfigError(f"secret {ref}: cannot read ({exc.strerror})") from None
    if scheme == "secrets":
        store = read_store(state_dir / "secrets.json")
        if name not in store:
            raise ConfigError(f"secret {ref}: no entry {name!r} in {state_dir / 'secrets.json'}")
        return SecretStr(store[name])
    raise ConfigError(f"secret reference {ref!r} must start with env:, file: or secrets:")


def read_store(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    data: dict[str, str] = json.loads(path.read_text())
    return data


def write_store(path: Path, entries: dict[str, str]) -> None:
    """Merge ``entries`` into the store, creating it readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = {**read_store(path), **entries}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        json.dump(merged, f, indent=1, sort_keys=True)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
