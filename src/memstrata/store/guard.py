"""A class decorator that turns a backend's raw errors into memstrata errors."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def backend_errors(
    raw: type[Exception], convert: Callable[[Any, Any], Exception]
) -> Callable[[type[T]], type[T]]:
    """Every public method of the class raises `convert(store, error)` in place of a
    `raw` error (generators too), never the raw error itself."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.isgeneratorfunction(method):

            @functools.wraps(method)
            def generate(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    yield from method(self, *args, **kwargs)
                except raw as exc:
                    raise convert(self, exc) from exc

            return generate

        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except raw as exc:
                raise convert(self, exc) from exc

        return call

    def decorate(cls: type[T]) -> type[T]:
        for name in dir(cls):
            method = getattr(cls, name)
            if not name.startswith("_") and inspect.isfunction(method):
                setattr(cls, name, wrap(method))
        return cls

    return decorate
