"""Eulerian grid solver of the kinetic and overdamped mean-field Fokker–Planck equations.

Modules: :mod:`grids.grid` (axes), :mod:`grids.quadrature` (cell averages),
:mod:`grids.convolution` (Numba FFT convolution), :mod:`grids.convolution2d` (2-D FFT
convolution on rocket-fft), :mod:`grids.overdamped2d` (the overdamped problem on a box in
R² and its schemes; NumPy twins in :mod:`grids.reference2d`), :mod:`grids.kernels` (compiled
finite-volume kernels), :mod:`grids.driver` (the compiled time loop shared by every
scheme), :mod:`grids.scheme` (the Scheme base class), :mod:`grids.explicit`,
:mod:`grids.implicit`, :mod:`grids.imex` (the schemes), :mod:`grids.reference` (NumPy
twins), :mod:`grids.solver` (problems, the scheme registry, :func:`~grids.solver.solve`),
:mod:`grids.kinetic2d` (the 2x2v kinetic solver; twins in :mod:`grids.reference_kinetic2d`).

Threading note: Numba's OpenMP layer spins its worker threads between parallel regions by
default (GNU ``OMP_WAIT_POLICY=active``). When the cores are shared with other processes a
spinning pool turns each millisecond-sized kernel launch into ~10 ms (measured here: 15 ms
instead of 1.1 ms per 512² step). Unless the user has chosen otherwise, this package sets
``OMP_WAIT_POLICY=passive`` before any parallel region is started.
"""

import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "passive")
