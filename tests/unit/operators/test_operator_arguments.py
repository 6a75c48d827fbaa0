"""The operators' public arguments: one name per concept, each documented, old names deprecated."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from airflow.providers.common.compat.sdk import BaseOperator

import airflow_provider_abeja.operators as operators_package
from airflow_provider_abeja.hooks.abeja import AbejaHook
from airflow_provider_abeja.operators import _base
from airflow_provider_abeja.operators.batch import AbejaBatchRequestOperator
from airflow_provider_abeja.operators.endpoint import (
    AbejaCreateEndpointOperator,
    AbejaDeleteEndpointOperator,
    AbejaRouteEndpointOperator,
    AbejaUpdateEndpointOperator,
)
from airflow_provider_abeja.operators.service import AbejaRequestServiceOperator

DEP, SER = "1234567890123", "ser-0123456789abcdef"


def public_operators() -> list[type[BaseOperator]]:
    found = []
    for info in pkgutil.iter_modules(operators_package.__path__):
        module = importlib.import_module(f"{operators_package.__name__}.{info.name}")
        found += [
            cls
            for name, cls in vars(module).items()
            if inspect.isclass(cls)
            and issubclass(cls, BaseOperator)
            and cls.__module__ == module.__name__
            and not name.startswith("_")
            and module is not _base
        ]
    return found


def own_arguments(cls: type) -> set[str]:
    """The keyword arguments ``cls.__init__`` declares itself."""
    init = inspect.unwrap(vars(cls).get("__init__", object.__init__))
    if init.__qualname__ != f"{cls.__qualname__}.__init__":  # Airflow wraps an inherited one too
        return set()
    return {p.name for p in inspect.signature(init).parameters.values() if p.kind is p.KEYWORD_ONLY}


def documented(cls: type) -> set[str]:
    return set(re.findall(r":param (\w+):", cls.__doc__ or ""))


@pytest.mark.parametrize("cls", public_operators(), ids=lambda cls: cls.__name__)
def test_every_public_argument_is_a_param_entry(cls: type[BaseOperator]) -> None:
    """Arguments of the shared bases are documented there (the API reference lists ``_base``),
    and so are those a public operator inherits from another public operator; every other
    argument in the public class's own docstring."""
    missing = set()
    public = set(public_operators())
    for klass in cls.__mro__:
        if not klass.__module__.startswith("airflow_provider_abeja."):
            continue
        home = klass if klass.__module__ == _base.__name__ or klass in public else cls
        missing |= own_arguments(klass) - documented(home)
    assert not missing, f"{cls.__name__}: no :param: entry for {sorted(missing)}"


def test_the_connection_defaults_to_the_hooks_and_is_templated() -> None:
    for cls in public_operators():
        if issubclass(cls, _base.AbejaConnectionOperator):
            assert "abeja_conn_id" in cls.template_fields, cls.__name__
    op = AbejaDeleteEndpointOperator(task_id="d", deployment_id=DEP, endpoint_alias="prod")
    assert op.abeja_conn_id == AbejaHook.default_conn_name


RENAMED = [
    (AbejaRequestServiceOperator, {"service_id": SER, "json": {}}, "ready_timeout", 5, "timeout", 5.0),
    (
        AbejaBatchRequestOperator,
        {"inputs": [], "output_path": "/o.jsonl"},
        "custom_alias",
        "a",
        "endpoint_alias",
        "a",
    ),
    (AbejaCreateEndpointOperator, {"service_id": SER}, "custom_alias", "a", "endpoint_alias", "a"),
    (AbejaUpdateEndpointOperator, {"service_id": SER}, "endpoint", "a", "endpoint_alias", "a"),
    (AbejaRouteEndpointOperator, {"service_id": SER}, "endpoint", "a", "endpoint_alias", "a"),
    (AbejaDeleteEndpointOperator, {}, "endpoint", "a", "endpoint_alias", "a"),
]


@pytest.mark.parametrize(("cls", "kwargs", "old", "value", "new", "stored"), RENAMED, ids=lambda v: str(v))
def test_an_old_argument_name_still_works_with_a_deprecation_warning(cls, kwargs, old, value, new, stored):
    with pytest.warns(DeprecationWarning, match=f"'{old}' is deprecated, use '{new}'") as caught:
        op = cls(task_id="t", deployment_id=DEP, **kwargs, **{old: value})
    assert getattr(op, new) == stored
    assert caught[0].filename == __file__  # the warning points at the DAG file's line
    with pytest.raises(TypeError, match="not both"):
        cls(task_id="t", deployment_id=DEP, **kwargs, **{old: value, new: value})


@pytest.mark.parametrize("cls", public_operators(), ids=lambda cls: cls.__name__)
def test_a_mapped_operator_keeps_airflows_defaults(cls: type[BaseOperator]) -> None:
    """``partial()`` reads the defaults of every ``__init__`` up to BaseOperator's: none of ours
    may turn ``inlets=[]`` into None (a mapped task then fails before it runs)."""
    partial = cls.partial(task_id="t")
    partial._expand_called = True  # not mapped here: no "never mapped" warning
    assert (partial.kwargs["inlets"], partial.kwargs["outlets"]) == ([], [])
