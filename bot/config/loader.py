"""Read the admin's YAML: ruamel.yaml for positions and duplicate keys, `${NAME}` from the environment.

Every problem is reported as `file:line:column: dotted.path: what was expected`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.config.core import Config

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# A real config holds a few thousand values; YAML aliases can make a small file expand to billions.
MAX_VALUES = 200_000


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class ConfigError(Exception):
    """The file could not be used; `problems` says where and why."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    model: type[Config] = Config,
    context: Mapping[str, Any] | None = None,
    extra_checks: Iterable[Callable[[Config], object]] = (),
) -> Config:
    """Read, interpolate and validate the config file at `path`.

    `model` is the composed config model (core plus the capabilities' sections) and `context`
    what its validators need (the default texts, the command names); the registry supplies both.
    `extra_checks` run on the validated config; a ValueError they raise is reported as a
    problem (used for checks that need the command registry).
    """
    path = Path(path)
    environ = os.environ if environ is None else environ
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(name, 1, 1, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(name, line, 1, "", "the file is not UTF-8 text (save it as UTF-8)")]) from None

    tree = _parse(text, name)
    _refuse_alias_bomb(tree, name)
    problems: list[Problem] = []
    _interpolate(tree, environ, name, "", problems)
    if problems:
        raise ConfigError(problems)

    try:
        config = model.model_validate(_plain(tree), context=dict(context or {}))
    except ValidationError as exc:
        raise ConfigError([_problem_from_error(tree, name, err) for err in exc.errors()]) from None

    url = environ.get("GROUPBOT_DATABASE_URL")
    if url:
        config = config.model_copy(update={"database_url": url})
    for check in extra_checks:
        try:
            check(config)
        except ValueError as exc:
            key = getattr(exc, "config_path", ())
            line, column = _position(tree, key)
            raise ConfigError([Problem(name, line, column, _dotted(key), str(exc))]) from None
    return config


def _parse(text: str, name: str) -> CommentedMap:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        tree = yaml.load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        found = re.match(r'found duplicate key "(.*?)" with value', exc.problem or "")
        message = f'duplicate key "{found.group(1)}"' if found else "duplicate key"
        raise ConfigError([Problem(name, mark.line + 1, mark.column + 1, "", message)]) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise ConfigError([Problem(name, line, column, "", f"invalid YAML: {message}")]) from None
    except YAMLError as exc:
        raise ConfigError([Problem(name, 1, 1, "", f"invalid YAML: {exc}")]) from None
    if tree is None:
        return CommentedMap()
    if not isinstance(tree, CommentedMap):
        raise ConfigError([Problem(name, 1, 1, "", "the file must be a mapping of sections (key: value)")])
    return tree


def _refuse_alias_bomb(tree: CommentedMap, name: str) -> None:
    """Count the values the tree expands to, aliases followed, and stop at MAX_VALUES without recursion.

    ruamel.yaml shares an anchored node among its aliases, so parsing is cheap; walking the tree
    (interpolation, validation) visits every expansion and takes seconds to hours.
    """
    stack: list[Any] = [tree]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise ConfigError(
                [Problem(name, 1, 1, "", f"the file expands to more than {MAX_VALUES} values (YAML aliases?)")]
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _interpolate(node: Any, environ: Mapping[str, str], name: str, path: str, problems: list[Problem]) -> None:
    items: Iterable[tuple[Any, Any]]
    if isinstance(node, CommentedMap):
        items = list(node.items())
    elif isinstance(node, CommentedSeq):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        child = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
        if isinstance(value, str) and "${" in value:
            try:
                node[key] = _substitute(value, environ)
            except KeyError as missing:
                line, column = _value_position(node, key)
                var = missing.args[0]
                problems.append(
                    Problem(
                        name,
                        line,
                        column,
                        child,
                        f"environment variable {var} is not set (write ${{{var}:-}} to allow it empty)",
                    )
                )
        else:
            _interpolate(value, environ, name, child, problems)


def _substitute(value: str, environ: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        if var in environ and environ[var] != "":
            return environ[var]
        if default is not None:
            return default
        if var in environ:
            return ""
        raise KeyError(var)

    return ENV_REFERENCE.sub(replace, value)


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _value_position(container: Any, key: Any) -> tuple[int, int]:
    try:
        line, column = container.lc.value(key) if isinstance(container, CommentedMap) else container.lc.item(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        return (container.lc.line + 1, container.lc.col + 1)
    return (line + 1, column + 1)


def _position(tree: CommentedMap, loc: Iterable[Any]) -> tuple[int, int]:
    """Find where `loc` sits in the file, or the nearest enclosing node when it is missing."""
    node: Any = tree
    line, column = 1, 1
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line, column = _key_position(node, part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            item_line, item_col = node.lc.item(part)
            line, column = item_line + 1, item_col + 1
            node = node[part]
        else:
            break
    return line, column


def _key_position(node: CommentedMap, key: Any) -> tuple[int, int]:
    try:
        key_line, key_col = node.lc.key(key)
    except (KeyError, TypeError):
        return (node.lc.line + 1, node.lc.col + 1)
    return key_line + 1, key_col + 1


def _dotted(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problem_from_error(tree: CommentedMap, name: str, err: Mapping[str, Any]) -> Problem:
    loc = list(err["loc"])
    cause = (err.get("ctx") or {}).get("error")
    loc.extend(getattr(cause, "config_path", ()))
    kind = err["type"]
    if kind == "missing":
        message = "field required"
    elif kind == "extra_forbidden":
        message = "unknown key"
    else:
        message = str(err["msg"])
        message = message.removeprefix("Value error, ")
        first_word = message.split(" ", 1)[0]
        if first_word[1:] == first_word[1:].lower():  # keep names such as EncodingAESKey as written
            message = message[:1].lower() + message[1:]
    line, column = _position(tree, loc)
    return Problem(name, line, column, _dotted(loc), message)


def locate(path: str | Path, loc: Iterable[Any]) -> Problem:
    """A Problem at the line and column of `loc` in the file at `path` (for warnings about a valid config)."""
    name = str(path)
    tree = _parse(Path(path).read_text(encoding="utf-8"), name)
    line, column = _position(tree, loc)
    return Problem(name, line, column, _dotted(loc), "")
