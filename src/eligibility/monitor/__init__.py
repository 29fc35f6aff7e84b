"""Monitoring over time: the monthly routine, department feeds and the county report (issue 14).

:mod:`eligibility.monitor.routine` runs a month (batch, store, comparison, the "六个一" lists);
:mod:`eligibility.monitor.feeds` imports department data as risk leads; :mod:`eligibility.monitor.report`
renders a county's runs as one offline HTML page. The runs live in :mod:`eligibility.store`.
"""

from __future__ import annotations

__all__: list[str] = []
