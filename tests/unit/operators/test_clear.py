"""Which try is the first after a clear: Airflow sets ``max_tries`` to the cleared try plus
``retries`` when it clears a task that is not running; a retry leaves ``max_tries`` as it was."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_abeja.operators._clear import first_try_after_clear


@pytest.mark.parametrize(
    ("try_number", "max_tries", "retries", "first"),
    [
        (1, 1, 1, False),  # the very first try
        (2, 1, 1, False),  # its retry
        (2, 2, 1, True),  # the first try after a clear of try 1
        (3, 2, 1, False),  # that try's own retry
        (2, 1, 0, True),  # no retries: a second try can only come from a clear
        (4, 3, 3, False),  # the third retry
        (5, 7, 3, True),  # cleared after try 4
        (2, 1, 2, False),  # retries raised since: not read as a clear
    ],
)
def test_the_first_try_after_a_clear(try_number: int, max_tries: int, retries: int, first: bool) -> None:
    ti = SimpleNamespace(try_number=try_number, max_tries=max_tries)
    assert first_try_after_clear({"ti": ti}, retries) is first


@pytest.mark.parametrize(
    "ti", [None, SimpleNamespace(try_number=2), SimpleNamespace(try_number=2, max_tries=None)]
)
def test_a_task_instance_without_max_tries_is_never_read_as_cleared(ti: object) -> None:
    assert first_try_after_clear({"ti": ti}, 1) is False
