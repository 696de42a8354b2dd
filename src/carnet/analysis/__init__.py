"""What a run did: the harm audit, experiments over seeds and scenarios, charts and the report.

:mod:`carnet.analysis.audit` judges one run against its ground truth;
:mod:`carnet.analysis.replicates` and :mod:`carnet.analysis.sweep` repeat it over seeds, scenario
pairs and grids; :mod:`carnet.analysis.charts`, :mod:`carnet.analysis.report` and
:mod:`carnet.analysis.dossier_page` draw it.
"""
