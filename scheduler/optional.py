"""Resolve "module:function" names of capabilities that may not be installed in this build."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def resolve(spec: str) -> Callable[..., Any] | None:
    """Return the function `spec` names, or None when its module does not exist.

    Only a missing module itself is tolerated: a module that exists but fails to import (or lacks the
    function) is a bug and is raised, not hidden.
    """
    module_name, _, function_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            log.debug("%s is not part of this build; skipping %s", module_name, spec)
            return None
        raise
    function = getattr(module, function_name, None)
    if not callable(function):
        raise AttributeError(f"{module_name} has no function {function_name!r} (wanted by {spec})")
    return function
