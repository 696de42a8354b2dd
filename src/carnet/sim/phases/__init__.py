"""The phases of the daily step, one module each: behave → observe → score → record.

The list, gate and respond phases arrive with lists and gates; :func:`carnet.sim.day.step` shows
where they go.
"""
