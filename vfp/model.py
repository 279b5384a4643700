"""The model in the solvers' terms: grid problems and particle force specifications.

These are pure translations of the typed model (potentials, interaction, initial law, axes)
into the plain arrays, callables and spec objects that :mod:`vfp.grids` and
:mod:`vfp.particles` take. They know nothing of config files, so :mod:`vfp.config` (for its
checks) and :mod:`vfp.pipeline` (for the runs) can both use them without importing each
other.
"""

from __future__ import annotations

from .potentials import GaussianKernelPotential, Potential

__all__ = ["axis", "grid_axes", "grid_problem", "particle_forces", "particle_forces_nd",
           "energy_keyword"]


def axis(axis_cfg):
    """A :class:`vfp.grids.grid.Axis` from anything with ``min``, ``max`` and ``cells``."""
    from vfp.grids.grid import Axis

    return Axis(axis_cfg.min, axis_cfg.max, axis_cfg.cells)


def grid_problem(model, grid, initial):
    """The grid problem and its initial cell averages.

    Parameters
    ----------
    model : ModelConfig
        Regime, γ, λ, potential V, interaction W and mean-field energy F (passed as the
        problem's ``energy``).
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

    if model.dimension == 2:
        return _grid_problem_2d(model, grid, initial)
    x = axis(grid.x)
    w = model.interaction
    common = dict(temperature=model.temperature, potential=model.potential.value,
                  grad_potential=model.potential.grad,
                  interaction=w.value if w is not None else None,
                  grad_interaction=w.grad if w is not None else None,
                  **energy_keyword(model))
    if model.kinetic:
        v = axis(grid.v)
        problem = KineticProblem(x=x, v=v, gamma=model.gamma, **common)
        cells, outside = initial.cell_averages(x.edges, v.edges)
    else:
        problem = OverdampedProblem(x=x, **common)
        cells, outside = initial.cell_averages(x.edges)
    return problem, cells, outside


def energy_keyword(model) -> dict:
    """``{"energy": F}`` for the solvers when the model has a mean-field energy
    (``model.functional``), else ``{}`` (so models without one call the solvers exactly as
    before)."""
    energy = getattr(model, "functional", None)
    return {} if energy is None else {"energy": energy}


def grid_axes(grid, kinetic):
    """The grid's axes as :class:`vfp.grids.grid.Axis` lists: (x_axes, v_axes or None)."""
    xs = [axis(a) for a in grid.x_axes]
    vs = [axis(a) for a in grid.v_axes] if kinetic else None
    return xs, vs


def _grid_problem_2d(model, grid, initial):
    """d = 2: :class:`~vfp.grids.solver.KineticProblem2D` (state (nx1, nx2, nv1, nv2)) or
    :class:`~vfp.grids.solver.OverdampedProblem2D` (state (nx1, nx2)); the potential is
    evaluated on the grid as V(x1, x2) and the interaction enters through its radial profile
    W(r), W'(r)."""
    from vfp.grids.solver import KineticProblem2D, OverdampedProblem2D

    xs, vs = grid_axes(grid, model.kinetic)
    w = model.interaction
    common = dict(temperature=model.temperature, potential=model.potential.grid_value,
                  grad_potential=model.potential.grid_grad,
                  interaction=w.profile if w is not None else None,
                  grad_interaction=w.profile_grad if w is not None else None,
                  **energy_keyword(model))
    if model.kinetic:
        problem = KineticProblem2D(x1=xs[0], x2=xs[1], v1=vs[0], v2=vs[1], gamma=model.gamma,
                                   **common)
        cells, outside = initial.cell_averages(*(a.edges for a in xs + vs))
    else:
        problem = OverdampedProblem2D(x1=xs[0], x2=xs[1], **common)
        cells, outside = initial.cell_averages(*(a.edges for a in xs))
    return problem, cells, outside


def particle_forces_nd(potential: Potential, interaction: Potential | None, dimension: int,
                       lo=None, hi=None):
    """Force specs for :func:`vfp.particles.simulate` with positions of shape (N, d).

    A polynomial V (built-ins, polynomial expressions) is compiled exactly
    (:class:`~vfp.particles.forces_nd.PolynomialND`); any other V is tabulated on the box
    [lo, hi] (multilinear, 129 nodes per axis in d = 2, 49 in d = 3). A quadratic
    interaction uses the exact O(N) mean form, a Gaussian kernel its closed form, any other
    radial kernel a table of its profile W'(r) up to the box's diagonal.

    Parameters
    ----------
    potential, interaction : Potential
        With the d-dimensional interface (``polynomial()``, ``grad_nd``, ``profile_grad``).
    dimension : int
    lo, hi : array_like, shape (d,), or None
        The particles' box (None: free space, where nothing can be tabulated).
    """
    import numpy as np

    from vfp.particles.forces_nd import PolynomialND, TabulatedND
    from vfp.particles.interaction import GaussianKernel, Quadratic
    from vfp.particles.interaction_nd import RadialKernel

    poly = potential.polynomial()
    if poly is not None:
        grad = PolynomialND(*poly)
    elif lo is None:
        raise ValueError("a non-polynomial potential is tabulated over the particles' box: "
                         "free space takes polynomial potentials")
    else:
        nodes = 129 if dimension == 2 else 49
        grad = TabulatedND.from_callable(potential.grad_nd, lo, hi, nodes)
    spec = None
    if interaction is not None:
        kind = getattr(interaction, "kind", None)
        params = getattr(interaction, "params", None) or {}
        if kind == "quadratic":
            spec = Quadratic(float(params.get("kappa", 0.5)))
        elif kind == "gaussian":
            spec = GaussianKernel(float(params["strength"]), float(params["width"]))
        elif lo is None:
            raise ValueError("this interaction kernel is tabulated up to the box's diagonal: "
                             "it needs a box (free space takes quadratic or Gaussian W)")
        else:
            diagonal = float(np.linalg.norm(np.asarray(hi, float) - np.asarray(lo, float)))
            spec = RadialKernel.from_callable(interaction.profile_grad, diagonal)
    return grad, spec


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

