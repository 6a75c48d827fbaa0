"""The scrubbed stand-in for a library's exception chain (``credentials.scrubbed_exception``): the
notes a library or a caller added are kept without the credential, and a text that cannot be
built does not break the error being raised."""

from __future__ import annotations

from airflow_provider_abeja.client.credentials import scrubbed_exception

SECRET = "s3cr3t-token-value"


def test_notes_are_kept_scrubbed() -> None:
    exc = ValueError(f"refused {SECRET}")
    exc.add_note(f"while sending Bearer {SECRET}")
    copy = scrubbed_exception(exc, (SECRET,))
    assert type(copy) is ValueError
    assert str(copy) == "refused ***"
    assert copy.__notes__ == ["while sending Bearer ***"]


def test_a_text_that_fails_is_replaced() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError(SECRET)

    copy = scrubbed_exception(Unprintable(), (SECRET,))
    assert type(copy) is Exception
    assert str(copy).endswith("Unprintable: (no text)")
    assert SECRET not in str(copy)
