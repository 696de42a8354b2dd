"""How a day runs, in memory: arrays in, arrays out, no disk.

:mod:`carnet.sim.parameters` compiles a scenario into arrays; :mod:`carnet.sim.population` and
:mod:`carnet.sim.employers` synthesise citizens and companies; :mod:`carnet.sim.day` shows the
whole day, one module of :mod:`carnet.sim.phases` per phase; :mod:`carnet.sim.simulation` steps
shards of citizen blocks through the days; :mod:`carnet.sim.metrics` and
:mod:`carnet.sim.company_outputs` turn their counts into Arrow tables.
"""
