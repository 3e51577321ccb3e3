"""Memory evolution: `Topics` groups memories; `evolve.salience` scores them.

The salience policy stays a module (`from memstrata.evolve import salience`, then
`salience.salience(...)`, `salience.prior(...)`) so that its function of the same
name does not hide it.
"""

from memstrata.evolve import salience
from memstrata.evolve.topics import Topics

__all__ = ["Topics", "salience"]
