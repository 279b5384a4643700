"""The model in the solvers' terms: grid problems and particle force specifications.

These are pure translations of the typed model (potentials, interaction, initial law, axes)
into the plain arrays, callables and spec objects that :mod:`vfp.grids` and
:mod:`vfp.particles` take. They know nothing of config files, so :mod:`vfp.config` (for its
checks) and :mod:`vfp.pipeline` (for the runs) can both use them without importing each
other.
"""

from __future__ import annotations

from .potentials import GaussianKernelPotential, Potential

__all__ = ["axis", "grid_problem", "particle_forces"]


def axis(axis_cfg):
    """A :class:`vfp.grids.grid.Axis` from anything with ``min``, ``max`` and ``cells``."""
    from vfp.grids.grid import Axis

    return Axis(axis_cfg.min, axis_cfg.max, axis_cfg.cells)


def grid_problem(model, grid, initial):
    """The grid problem and its initial cell averages.

    Parameters
    ----------
    model : ModelConfig
        Regime, γ, λ, potential V and interaction W.
    grid : GridConfig
        The x-axis (and the v-axis in the kinetic regime).
    initial : GaussianMixture
        Initial law; its exact cell averages are taken.

    Returns
    -------
    problem : vfp.grids.solver.KineticProblem or OverdampedProblem
    cells : ndarray, shape (n_x, n_v) or (n_x,)
        Initial cell averages, renormalised to mass 1 on the grid.
    outside : float
        Probability of the initial law outside the grid.
    """
    from vfp.grids.solver import KineticProblem, OverdampedProblem

    x = axis(grid.x)
    w = model.interaction
    common = dict(temperature=model.temperature, potential=model.potential.value,
                  grad_potential=model.potential.grad,
                  interaction=w.value if w is not None else None,
                  grad_interaction=w.grad if w is not None else None)
    if model.kinetic:
        v = axis(grid.v)
        problem = KineticProblem(x=x, v=v, gamma=model.gamma, **common)
        cells, outside = initial.cell_averages(x.edges, v.edges)
    else:
        problem = OverdampedProblem(x=x, **common)
        cells, outside = initial.cell_averages(x.edges)
    return problem, cells, outside


def particle_forces(potential: Potential, interaction: Potential | None, lo: float, hi: float):
    """Force specs for :func:`vfp.particles.simulate`.

    Polynomial gradients (all built-ins but ``gaussian``, and polynomial expressions) are
    evaluated exactly in compiled code; anything else is tabulated on [lo, hi].
    A quadratic interaction uses the exact O(N) mean form, a Gaussian kernel its closed
    form, any other kernel a table of W' on [−(hi − lo), hi − lo]. In free space
    (``lo = hi = None``) nothing can be tabulated: V′ must be a polynomial and W quadratic
    or Gaussian (the config checks this before any work).

    Returns
    -------
    grad : Polynomial or callable
        V′ for the particles.
    interaction : Quadratic, GaussianKernel, TabulatedKernel or None
        W′ for the particles.
    """
    from vfp.particles.forces import Polynomial
    from vfp.particles.interaction import GaussianKernel, Quadratic, TabulatedKernel

    if potential.grad_polynomial is not None:
        grad = Polynomial(potential.grad_polynomial)
    else:
        grad = potential.grad
    spec = None
    if interaction is not None:
        poly = interaction.grad_polynomial
        if poly is not None and len(poly) <= 2 and abs(poly[0]) == 0.0:
            spec = Quadratic(poly[1] if len(poly) == 2 else 0.0)
        elif isinstance(interaction, GaussianKernelPotential):
            spec = GaussianKernel(interaction.strength, interaction.width)
        elif lo is None or hi is None:
            raise ValueError("this interaction kernel is tabulated over the domain's width: "
                             "it needs a domain (free space takes quadratic or Gaussian W)")
        else:
            spec = TabulatedKernel.from_callable(interaction.grad, float(hi - lo))
    return grad, spec

