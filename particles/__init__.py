"""Particle (Lagrangian) simulator of mean-field Langevin dynamics in R^d, d = 1, 2, 3.

Kinetic:     dX = V dt,  dV = −γV dt − V'(X) dt − (1/N) Σ_j W'(X − X^j) dt + sqrt(2γλ) dB
Overdamped:  dX = −V'(X) dt − (1/N) Σ_j W'(X − X^j) dt + sqrt(2λ) dB

(d ≥ 2: ∇V and the radial interaction ∇W(x) = w'(|x|) x/|x|; x0 of shape (N, d),
:mod:`particles.driver_nd`, :mod:`particles.forces_nd` (PolynomialND, TabulatedND),
:mod:`particles.interaction_nd` (RadialKernel, pairwise, 2-D mesh).)

Public API::

    from vfp.particles import simulate, ParticleSolution, SCHEMES      # the driver
    from vfp.particles import Polynomial, Tabulated                     # V' specs
    from vfp.particles import (Quadratic, GaussianKernel, TabulatedKernel,
                               INTERACTION_METHODS)                    # W specs, methods

``vfp.particles.simulate`` is the function; its module is :mod:`particles.driver`
(compiled time loops and the driver). Other modules: :mod:`particles.rng`
(counter-based ziggurat normals, bit-identical for any thread count),
:mod:`particles.forces`, :mod:`particles.interaction` (exact mean form, O(N²) pairwise,
CIC + FFT mesh), :mod:`particles.reference` (NumPy twins of every kernel, for tests).

Mean-field energies (DESIGN §9): ``simulate(..., energy=)`` adds ∇x δF/δμ(x; μ^N) to V'
for any d (a :class:`grids.meanfield.TwoLayerNetwork` inside the compiled loop, any other
energy from Python once per force evaluation); :mod:`particles.driver_nd` runs them.

``particles`` never imports ``vfp`` or ``validation``; it takes plain arrays and callables,
and raises plain messages (the config layer adds the key's name).
"""

from .driver import SCHEMES, ParticleSolution, check_temperature, simulate
from .forces import Polynomial, Tabulated
from .forces_nd import PolynomialND, TabulatedND
from .interaction import INTERACTION_METHODS, GaussianKernel, Quadratic, TabulatedKernel

__all__ = ["Polynomial", "Tabulated", "PolynomialND", "TabulatedND", "Quadratic",
           "GaussianKernel", "TabulatedKernel", "RadialKernel",
           "INTERACTION_METHODS", "simulate", "ParticleSolution", "SCHEMES",
           "check_temperature"]


def __getattr__(name):
    # RadialKernel's module imports the 2-D FFT (rocket-fft, ~0.3 s): loaded on first use,
    # so that d = 1 runs do not pay for it
    if name == "RadialKernel":
        from .interaction_nd import RadialKernel
        return RadialKernel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
