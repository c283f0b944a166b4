"""Loaded by schemathesis (schemathesis.toml `hooks`) before it runs.

Python 3.11.7's `ast.parse` can raise `SystemError: AST constructor recursion depth
mismatch` when called deep in a stack (CPython gh-106905, fixed in later 3.11 releases).
Hypothesis calls it only to describe a lambda for its own messages; a description that
cannot be made reads as unknown instead of ending the run.
"""

import hypothesis.internal.lambda_sources as lambda_sources

_describe = lambda_sources._lambda_description


def _describe_or_not(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


lambda_sources._lambda_description = _describe_or_not
