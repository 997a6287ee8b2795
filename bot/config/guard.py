"""Hold back a config edit that drops whole sections, until the admin accepts that exact file.

An editor that writes in place can leave the file cut off for a moment, and a cut-off YAML file is
often still valid: everything after the cut falls back to defaults. An edit that empties a
section the running config uses (roles, groups, command settings, the quiz bank, the rewards) is
therefore held: the service keeps the running config, says so in the log, /healthz and
`check-config`, and applies the edit once `groupbot reload --accept` has recorded the file's
digest next to it. The acceptance names one file content, so it never turns the guard off.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.config.core import Config

log = logging.getLogger(__name__)

# What a core section holds; a section that held something and now holds nothing is "dropped".
# Capabilities guard their own (the quiz bank, the rewards) through `Section.guards`.
GUARDED_SECTIONS: dict[str, Callable[[Config], int]] = {
    "roles": lambda c: len(c.roles.admins) + len(c.roles.guides),
    "groups": lambda c: len(c.groups),
    "commands": lambda c: len(c.commands),
}


@dataclass(frozen=True)
class HeldEdit:
    digest: str
    dropped: tuple[str, ...]

    def describe(self) -> str:
        return (
            f"the edit empties {', '.join(self.dropped)}; the running config is kept until "
            "`groupbot reload --accept` confirms it"
        )


def dropped_sections(running: Config, new: Config) -> tuple[str, ...]:
    """Return the guarded sections that `running` fills and `new` leaves empty."""
    guarded = {**GUARDED_SECTIONS, **type(running).section_guards}
    return tuple(name for name, size in guarded.items() if size(running) and not size(new))


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def accept_path(path: Path) -> Path:
    return path.with_name(path.name + ".accept")


def held_path(path: Path) -> Path:
    return path.with_name(path.name + ".held")


def is_accepted(path: Path, digest: str) -> bool:
    """Tell whether the admin accepted the file content with this digest."""
    try:
        return accept_path(path).read_text(encoding="utf-8").strip() == digest
    except OSError:
        return False


def accept(path: Path) -> str | None:
    """Record that the file as it is now may be applied even though it drops sections; return its digest."""
    digest = file_digest(path)
    if digest is not None:
        accept_path(path).write_text(digest + "\n", encoding="utf-8")
    return digest


def publish_held(path: Path, held: HeldEdit | None) -> None:
    """Leave a note for `check-config` and `reload` in other processes; remove it when nothing is held."""
    note = held_path(path)
    try:
        if held is None:
            note.unlink(missing_ok=True)
        else:
            note.write_text(json.dumps(asdict(held)), encoding="utf-8")
    except OSError as exc:  # the log and /healthz still tell; a read-only config folder must not stop reloads
        log.warning("cannot write %s: %s", note, exc)


def read_held(path: Path) -> HeldEdit | None:
    """Return the edit a running service holds back for this file as it is now, if any."""
    try:
        data = json.loads(held_path(path).read_text(encoding="utf-8"))
        held = HeldEdit(str(data["digest"]), tuple(data["dropped"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return held if held.digest == file_digest(path) else None
