"""Particle (Lagrangian) simulator of mean-field Langevin dynamics in 1-D.

Kinetic:     dX = V dt,  dV = −γV dt − V'(X) dt − (1/N) Σ_j W'(X − X^j) dt + sqrt(2γλ) dB
Overdamped:  dX = −V'(X) dt − (1/N) Σ_j W'(X − X^j) dt + sqrt(2λ) dB

Public API::

    from vfp.particles.forces import Polynomial, Tabulated          # V' specs
    from vfp.particles.interaction import (Quadratic, GaussianKernel, TabulatedKernel,
                                       INTERACTION_METHODS)     # W specs, methods
    from vfp.particles.simulate import simulate, ParticleSolution, SCHEMES

Modules: :mod:`particles.rng` (counter-based ziggurat normals, bit-identical for any
thread count), :mod:`particles.forces`, :mod:`particles.interaction` (exact mean form,
O(N²) pairwise, CIC + FFT mesh), :mod:`particles.simulate` (compiled time loops, driver),
:mod:`particles.reference` (NumPy twins of every kernel, for tests).

``particles`` never imports ``vfp`` or ``validation``; it takes plain arrays and callables.
"""

from .forces import Polynomial, Tabulated
from .interaction import INTERACTION_METHODS, GaussianKernel, Quadratic, TabulatedKernel
from .simulate import SCHEMES, ParticleSolution, simulate

__all__ = ["Polynomial", "Tabulated", "Quadratic", "GaussianKernel", "TabulatedKernel",
           "INTERACTION_METHODS", "simulate", "ParticleSolution", "SCHEMES"]
