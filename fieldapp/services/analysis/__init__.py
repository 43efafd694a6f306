"""Analysis: pure functions from a filter set to tables, shared by the dashboard, the printed
report, the aggregate exports and ``fieldapp analysis summary --json``.

A :class:`~fieldapp.services.analysis.tables.Table` is what every output is drawn from; small
counts are suppressed by one function (:mod:`.suppression`) applied to every table that leaves
the analysis layer for a viewer or a file.
"""
