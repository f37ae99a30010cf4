"""Grading, in layers along the trust boundary (docs/architecture.md):

- :mod:`.sandbox`: runs in the worker's process, beside the submission's code;
- :mod:`.jail`: the judge's handle on a worker (levels, bubblewrap, Landlock rules, limits);
- :mod:`.judge`: makes verdicts from plain data, where no submitted code has run;
- :mod:`.classroom`: grades a class on top of the judge.

:mod:`.blame` holds the exceptions that say whose failure it was. Each layer imports only the
ones below it; ``lint-imports`` (the ``lint`` session) fails when an import crosses the wrong way.
"""
