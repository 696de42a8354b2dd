"""The validation suite: carnet against published models and exact references.

Each check runs scenarios shipped with carnet (presets named ``validation-*``) and sets carnet's
figures, with their standard errors over seeds, against references: a published result with its
source, or an exact value computed here by other means (a closed form, dynamic programming, a
conservation law). :mod:`carnet.analysis.validation.checks` defines what a check returns and
lists them; ``carnet validation`` runs them all and prints the table.
"""
