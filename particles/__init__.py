"""Particle (Lagrangian) simulator of mean-field Langevin dynamics.

Public API::

    from particles.forces import Polynomial, Tabulated
    from particles.interaction import (Quadratic, GaussianKernel, TabulatedKernel,
                                       INTERACTION_METHODS)
    from particles.simulate import simulate, ParticleSolution, SCHEMES

``particles`` never imports ``vfp`` or ``validation``; it takes plain arrays and callables.
"""

from .forces import Polynomial, Tabulated
from .interaction import INTERACTION_METHODS, GaussianKernel, Quadratic, TabulatedKernel
from .simulate import SCHEMES, ParticleSolution, simulate

__all__ = ["Polynomial", "Tabulated", "Quadratic", "GaussianKernel", "TabulatedKernel",
           "INTERACTION_METHODS", "simulate", "ParticleSolution", "SCHEMES"]
