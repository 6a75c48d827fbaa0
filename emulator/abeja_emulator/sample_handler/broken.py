"""A version whose handler cannot be imported: it needs a package that is not installed."""

import sample_dependency_that_is_not_installed  # type: ignore[import-not-found]  # noqa: F401


def handler(request, context):  # type: ignore[no-untyped-def]
    return {"content": "unreachable"}
