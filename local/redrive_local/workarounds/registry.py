"""What the workarounds package holds: every workaround :func:`install` applies and every
local CloudFormation model, recorded by name as each module defines it.

``install()`` applies exactly ``WORKAROUNDS`` and the CloudFormation type map gets exactly
``LOCAL_MODELS``, so the tests can check that each entry is pinned by a test that ran
(``tests/functional/workarounds``) without parsing source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from moto.core.common_models import CloudFormationModel

Workaround = Callable[[], None]
ModelT = TypeVar("ModelT", bound=type[CloudFormationModel])

WORKAROUNDS: dict[str, Workaround] = {}
LOCAL_MODELS: dict[str, type[CloudFormationModel]] = {}


class DuplicateWorkaroundError(Exception):
    """Two workarounds (or two local models) share a name: rename one, since tests pin by name."""


def workaround(function: Workaround) -> Workaround:
    """Record ``function`` as a workaround for :func:`install` to apply."""
    if function.__name__ in WORKAROUNDS:
        raise DuplicateWorkaroundError(f"a workaround named {function.__name__} is already registered")
    WORKAROUNDS[function.__name__] = function
    return function


def local_model(model: ModelT) -> ModelT:
    """Record ``model`` as a local CloudFormation model, put in moto's type map at install."""
    if model.__name__ in LOCAL_MODELS:
        raise DuplicateWorkaroundError(f"a local model named {model.__name__} is already registered")
    LOCAL_MODELS[model.__name__] = model
    return model
