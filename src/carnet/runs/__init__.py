"""A run on disk: its directory, checkpoints, resume, local and Dask execution, memory, query.

:mod:`carnet.runs.directory` is the sole owner of the run directory's file names and manifest;
:mod:`carnet.runs.local` runs in this process, :mod:`carnet.runs.dask` as shards on Dask;
:mod:`carnet.runs.memory` predicts what a run needs; :mod:`carnet.runs.integrity` seals and
verifies; :mod:`carnet.runs.query` runs SQL over a run.
"""
