"""Potentials V(x) and interaction kernels W(x): built-ins, safe expressions, Python objects.

Every potential is an object with vectorised ``value(x)`` and ``grad(x)``. Built-in and
expression potentials also know whether their gradient is a polynomial
(``grad_polynomial``: coefficients c_k of V'(x) = Σ c_k x^k), which lets the particle
simulator evaluate the force exactly inside compiled code instead of from a table.

Expressions are parsed with :mod:`ast` against a whitelist (numbers, ``x``, + − * / **,
unary minus, and the functions exp, log, sin, cos, tanh, sqrt, abs), turned into a sympy
expression node by node, and differentiated exactly. Nothing from the string is ever
evaluated by Python.

Dimensions. The objects above are functions of one real x (model.dimension = 1). In
d ≥ 2 a potential V is a function of a point x = (x1, ..., xd): :class:`PotentialND`
(built-ins, :class:`PolynomialPotentialND`, :class:`ExpressionPotentialND` in the
variables x1..xd, :class:`FunctionPotentialND` for Python objects), whose ``value`` and
``grad`` take points of shape (m, d). Interactions in d ≥ 2 are radial,
W(x − y) = w(|x − y|): :class:`RadialInteraction` (built-ins ``quadratic`` and
``gaussian``, expressions in ``r``, Python objects giving the profile w(r) and w'(r)).
Every potential, in every d, offers the same interface to the solvers:

* ``value_nd(points)`` (m, d) → (m,) and ``grad_nd(points)`` (m, d) → (m, d);
* ``grid_value(x1, ..., xd)`` and ``grid_grad(x1, ..., xd)`` → (g1, ..., gd) on
  broadcasting coordinate arrays (e.g. ``x1[:, None], x2[None, :]``);
* ``polynomial()`` → (powers int (T, d), coefs (T,)) with V(x) = Σ_t coefs[t]
  Π_k x_k^powers[t, k] when V is a polynomial, else None;
* radial interactions also ``profile(r)``, ``profile_grad(r)`` (w'(r), 0 at r = 0) and, for
  built-ins, ``kind`` and ``params`` (``quadratic``: kappa; ``gaussian``: strength, width).
"""

from __future__ import annotations

import ast
import importlib
import math
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Potential",
    "PolynomialPotential",
    "ExpressionPotential",
    "FunctionPotential",
    "ExpressionError",
    "BUILTIN_POTENTIALS",
    "BUILTIN_INTERACTIONS",
    "builtin",
    "from_expression",
    "from_python",
    "PotentialND",
    "PolynomialPotentialND",
    "ExpressionPotentialND",
    "FunctionPotentialND",
    "RadialInteraction",
    "MAX_DIMENSION",
]

#: largest spatial dimension (grid runs take d ≤ 2, particles d ≤ 3)
MAX_DIMENSION = 3


class Potential:
    """A scalar function of x with its derivative, both vectorised over arrays.

    Subclasses implement :meth:`value` and :meth:`grad`. ``grad_polynomial`` is a tuple of
    coefficients (c_0, c_1, ...) when V' is the polynomial Σ c_k x^k, else ``None``.
    """

    name: str = "potential"
    grad_polynomial: tuple[float, ...] | None = None
    #: spatial dimension d of the argument (None for a radial interaction: any d ≥ 2)
    dim: int | None = 1
    #: True for a radial interaction kernel W(x − y) = w(|x − y|) of d ≥ 2
    radial: bool = False

    def value(self, x):
        raise NotImplementedError

    def grad(self, x):
        raise NotImplementedError

    # The d-dimensional interface (module docstring), here for d = 1: x = points[:, 0].

    def value_nd(self, points):
        """V at points of shape (m, 1) → (m,)."""
        return self.value(_points(points, 1)[:, 0])

    def grad_nd(self, points):
        """∇V at points of shape (m, 1) → (m, 1)."""
        return self.grad(_points(points, 1)[:, 0])[:, None]

    def grid_value(self, *coords):
        """V on broadcasting coordinate arrays (one per dimension) → their broadcast shape."""
        return _on_grid(self.value_nd, coords, self.dim)

    def grid_grad(self, *coords):
        """∇V on broadcasting coordinate arrays → a tuple of d arrays (∂1V, ..., ∂dV)."""
        return _on_grid_vector(self.grad_nd, coords, self.dim)

    def polynomial(self):
        """(powers int (T, d), coefs (T,)) when V is a polynomial (module docstring), else None."""
        return None

    def profile(self, r):
        """An even kernel W(x) of d = 1 as a function of the distance: W(|r|)."""
        return self.value(np.abs(np.asarray(r, dtype=float)))

    def profile_grad(self, r):
        """W′(|r|) of an even kernel of d = 1 (0 at r = 0)."""
        r = np.abs(np.asarray(r, dtype=float))
        return np.where(r > 0, self.grad(r), 0.0)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"


@dataclass(repr=False)
class PolynomialPotential(Potential):
    """V(x) = Σ_k a_k x^k with coefficients ``coeffs`` = (a_0, a_1, ...)."""

    coeffs: tuple[float, ...]
    name: str = "polynomial"
    grad_polynomial: tuple[float, ...] | None = field(init=False)

    def __post_init__(self):
        self.coeffs = tuple(float(c) for c in self.coeffs)
        self.grad_polynomial = tuple(k * c for k, c in enumerate(self.coeffs))[1:] or (0.0,)

    def value(self, x):
        return np.polynomial.polynomial.polyval(np.asarray(x, dtype=float), self.coeffs)

    def grad(self, x):
        return np.polynomial.polynomial.polyval(np.asarray(x, dtype=float), self.grad_polynomial)

    def polynomial(self):
        return _terms_from_dict({(k,): c for k, c in enumerate(self.coeffs)}, 1)


class GaussianKernelPotential(Potential):
    """W(x) = s·exp(−x²/(2w²)); s > 0 is repulsive, s < 0 attractive."""

    def __init__(self, strength: float, width: float):
        self.strength = float(strength)
        self.width = float(width)
        self.name = f"gaussian(strength={self.strength:g}, width={self.width:g})"

    def value(self, x):
        x = np.asarray(x, dtype=float)
        return self.strength * np.exp(-0.5 * (x / self.width) ** 2)

    def grad(self, x):
        x = np.asarray(x, dtype=float)
        return -self.strength * x / self.width**2 * np.exp(-0.5 * (x / self.width) ** 2)


def _harmonic(omega=1.0):
    p = PolynomialPotential((0.0, 0.0, 0.5 * omega**2))
    p.name = f"harmonic(omega={omega:g})"
    return p


def _double_well(barrier=0.25, width=1.0):
    # V = barrier·(x² − w²)²/w⁴: minima at ±w, barrier height `barrier` at 0.
    c = barrier / width**4
    p = PolynomialPotential((c * width**4, 0.0, -2.0 * c * width**2, 0.0, c))
    p.name = f"double_well(barrier={barrier:g}, width={width:g})"
    return p


def _tilted_double_well(barrier=0.25, width=1.0, tilt=0.1):
    c = barrier / width**4
    p = PolynomialPotential((c * width**4, tilt, -2.0 * c * width**2, 0.0, c))
    p.name = f"tilted_double_well(barrier={barrier:g}, width={width:g}, tilt={tilt:g})"
    return p


def _quartic(coefficient=1.0):
    p = PolynomialPotential((0.0, 0.0, 0.0, 0.0, 0.25 * coefficient))
    p.name = f"quartic(coefficient={coefficient:g})"
    return p


def _quadratic(kappa=0.5):
    p = PolynomialPotential((0.0, 0.0, 0.5 * kappa))
    p.name = f"quadratic(kappa={kappa:g})"
    return p


def _gaussian(strength=1.0, width=1.0):
    return GaussianKernelPotential(strength, width)


# name -> (factory, {parameter: default}); parameters must be finite floats.
BUILTIN_POTENTIALS = {
    "harmonic": (_harmonic, {"omega": 1.0}),
    "double_well": (_double_well, {"barrier": 0.25, "width": 1.0}),
    "tilted_double_well": (_tilted_double_well, {"barrier": 0.25, "width": 1.0, "tilt": 0.1}),
    "quartic": (_quartic, {"coefficient": 1.0}),
}
BUILTIN_INTERACTIONS = {
    "quadratic": (_quadratic, {"kappa": 0.5}),
    "gaussian": (_gaussian, {"strength": 1.0, "width": 1.0}),
}
_POSITIVE_PARAMETERS = {"width", "barrier", "coefficient"}
_PER_AXIS_PARAMETERS = {"omega"}  # d ≥ 2: a number (every axis) or one per axis


def builtin(kind: str, interaction: bool = False, dimension: int = 1, **params) -> Potential:
    """Build a named potential (or interaction kernel when ``interaction``).

    Potentials: ``harmonic`` (omega): ω²x²/2; ``double_well`` (barrier, width):
    barrier·(x² − width²)²/width⁴; ``tilted_double_well`` (barrier, width, tilt): the
    double well plus tilt·x; ``quartic`` (coefficient): coefficient·x⁴/4.
    Interactions: ``quadratic`` (kappa): κx²/2; ``gaussian`` (strength, width):
    strength·exp(−x²/(2 width²)).

    In ``dimension`` d ≥ 2, x² becomes |x|² = Σ_k x_k² throughout: ``harmonic`` is
    Σ_k ω_k² x_k²/2 (``omega`` a number, or a list of d numbers, one per axis);
    ``double_well`` is the rotation-invariant barrier·(|x|² − width²)²/width⁴ (minima on
    the sphere |x| = width; write a separable well per axis as an expression);
    ``tilted_double_well`` adds tilt·x1; ``quartic`` is coefficient·|x|⁴/4. All are
    :class:`PolynomialPotentialND`. Interactions become radial profiles of r = |x − y|
    (:class:`RadialInteraction`): ``quadratic`` κr²/2, ``gaussian``
    strength·exp(−r²/(2 width²)).

    Raises
    ------
    KeyError
        Unknown kind or parameter (the message names it).
    ValueError
        A parameter that is not a finite number, or a non-positive width/barrier/coefficient.
    """
    dimension = _dimension(dimension)
    table = BUILTIN_INTERACTIONS if interaction else BUILTIN_POTENTIALS
    if kind not in table:
        raise KeyError(f"unknown kind {kind!r} (choose from {', '.join(sorted(table))})")
    factory, defaults = table[kind]
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise KeyError(f"unknown parameter {unknown[0]!r} for {kind!r} "
                       f"(allowed: {', '.join(defaults)})")
    values = dict(defaults)
    for key, val in params.items():
        if dimension > 1 and key in _PER_AXIS_PARAMETERS and isinstance(val, (list, tuple)):
            if len(val) != dimension:
                raise ValueError(f"parameter {key!r} must be a number or a list of "
                                 f"{dimension} numbers, one per axis (got {len(val)})")
            values[key] = tuple(_parameter(key, item) for item in val)
            continue
        values[key] = _parameter(key, val)
    if dimension == 1:
        return factory(**values)
    if interaction:
        return RadialInteraction.builtin(kind, **values)
    return _builtin_nd(kind, dimension, **values)


def _parameter(key, val):
    if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
        raise ValueError(f"parameter {key!r} must be a finite number (got {val!r})")
    if key in _POSITIVE_PARAMETERS and val <= 0:
        raise ValueError(f"parameter {key!r} must be > 0 (got {val!r})")
    return float(val)


# ---------------------------------------------------------------------------------------
# Safe expressions


class ExpressionError(ValueError):
    """An expression string that is not in the whitelisted grammar."""


_FUNCTIONS = ("exp", "log", "sin", "cos", "tanh", "sqrt", "abs")
# Bounds on the work an expression may ask of sympy (exact integer arithmetic and
# polynomial expansion grow without limit otherwise: "(((10**64)**64)**64)**64" takes
# tens of seconds, "((x+1)**64)**64" expands to 4097 huge coefficients).
_MAX_EXPRESSION_LENGTH = 2000
_MAX_POWER = 64             # |numeric exponent|
_MAX_INTEGER = 10**18       # |integer literal|; write larger constants as floats
_MAX_LOG10_CONSTANT = 300   # numeric powers beyond 1e300 overflow float64 anyway
_MAX_DEGREE = 128           # bound on the polynomial degree of the expression
_MAX_NODES = 1000
_MAX_DEPTH = 64


def _check_size(tree):
    """Bound node count, nesting depth and polynomial degree before sympy sees the tree."""
    count = 0

    def walk(node, depth):
        nonlocal count
        count += 1
        if count > _MAX_NODES:
            raise ExpressionError(f"expression too large (more than {_MAX_NODES} parts)")
        if depth > _MAX_DEPTH:
            raise ExpressionError(f"expression nested too deeply (more than {_MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant) and isinstance(node.value, int) \
                and not isinstance(node.value, bool) and abs(node.value) > _MAX_INTEGER:
            raise ExpressionError(f"integer constant too large (at most {_MAX_INTEGER:.0e} "
                                  "in magnitude; write larger numbers as floats, e.g. 1e20)")
        for child in ast.iter_child_nodes(node):
            walk(child, depth + 1)

    walk(tree, 0)
    degree = _degree_bound(tree)
    if degree > _MAX_DEGREE:
        raise ExpressionError(f"polynomial degree up to {degree:g}, more than {_MAX_DEGREE}")


def _degree_bound(node):
    """An upper bound on the degree in x of the (polynomial parts of the) expression."""
    if isinstance(node, ast.Expression):
        return _degree_bound(node.body)
    if isinstance(node, ast.Name):
        return 0.0 if node.id == "pi" else 1.0
    if isinstance(node, ast.UnaryOp):
        return _degree_bound(node.operand)
    if isinstance(node, ast.BinOp):
        left, right = _degree_bound(node.left), _degree_bound(node.right)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return max(left, right)
        if isinstance(node.op, ast.Pow):
            exponent = _constant_value(node.right)
            if exponent is None:
                return left + right
            return left * min(abs(exponent), 1e6)
        return left + right
    if isinstance(node, ast.Call):
        return max((_degree_bound(a) for a in node.args), default=0.0)
    return 0.0


def _constant_value(node):
    """The value of a purely numeric sub-expression made of literals, signs and
    +-*/ (None if it involves x, names or calls); powers of constants are rejected by
    _to_sympy before they are formed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.UnaryOp):
        val = _constant_value(node.operand)
        return None if val is None else -val if isinstance(node.op, ast.USub) else val
    if isinstance(node, ast.BinOp) and not isinstance(node.op, ast.Pow):
        a, b = _constant_value(node.left), _constant_value(node.right)
        if a is None or b is None:
            return None
        with np.errstate(all="ignore"):
            ops = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
                   ast.Div: np.divide}
            op = ops.get(type(node.op))
            return None if op is None else float(op(np.float64(a), np.float64(b)))
    return None


def _unknown_name(name, allowed):
    """The message for a name that is not a variable of the expression."""
    if allowed == ("x",):
        return f"unknown name {name!r} (only x and pi)"
    if allowed == ("r",):
        return (f"unknown name {name!r}: an interaction in dimension ≥ 2 is radial, "
                "written in r = |x − y| (and pi)")
    hint = " (x is for model.dimension = 1)" if name == "x" else ""
    return (f"unknown name {name!r}{hint}: dimension {len(allowed)} takes the variables "
            f"{', '.join(allowed)} (and pi)")


def _to_sympy(node, symbol):
    """Translate a whitelisted AST node into a sympy expression; reject anything else.

    ``symbol`` maps the allowed variable names to their sympy symbols."""
    import sympy

    if isinstance(node, ast.Expression):
        return _to_sympy(node.body, symbol)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise ExpressionError(f"only numbers are allowed as constants (got {node.value!r})")
        if not math.isfinite(node.value):
            raise ExpressionError("constants must be finite")
        return sympy.Integer(node.value) if isinstance(node.value, int) else sympy.Float(node.value)
    if isinstance(node, ast.Name):
        if node.id in symbol:
            return symbol[node.id]
        if node.id == "pi":
            return sympy.pi
        raise ExpressionError(_unknown_name(node.id, tuple(symbol)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _to_sympy(node.operand, symbol)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp):
        left = _to_sympy(node.left, symbol)
        right = _to_sympy(node.right, symbol)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div):
            return left / right
        if isinstance(node.op, ast.Pow):
            # Bound exponents so "x**10**10" cannot stall the symbolic engine.
            if right.is_number and abs(float(right)) > _MAX_POWER:
                raise ExpressionError(f"exponent {right} too large (at most {_MAX_POWER})")
            # ...and powers of constants, so nested powers of ten cannot either.
            if left.is_number and right.is_number and left != 0:
                magnitude = abs(float(right)) * math.log10(abs(complex(left)))
                if magnitude > _MAX_LOG10_CONSTANT:
                    raise ExpressionError(f"constant ({left})**({right}) too large "
                                          f"(beyond 1e{_MAX_LOG10_CONSTANT})")
            return left**right
        raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            name = getattr(node.func, "id", type(node.func).__name__)
            raise ExpressionError(f"function {name!r} is not allowed "
                                  f"(allowed: {', '.join(_FUNCTIONS)})")
        if node.keywords or len(node.args) != 1:
            raise ExpressionError(f"{node.func.id}() takes exactly one argument")
        arg = _to_sympy(node.args[0], symbol)
        fn = {"exp": sympy.exp, "log": sympy.log, "sin": sympy.sin, "cos": sympy.cos,
              "tanh": sympy.tanh, "sqrt": sympy.sqrt, "abs": sympy.Abs}[node.func.id]
        return fn(arg)
    raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")


def _parse_expression(text, symbols):
    """Parse ``text`` against the whitelist into a sympy expression in ``symbols``
    (name → sympy symbol); raises :class:`ExpressionError`."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expression must be a non-empty string")
    if len(text) > _MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression longer than {_MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid syntax in {text!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("expression nested too deeply") from None
    _check_size(tree)
    expr = _to_sympy(tree, symbols)
    if expr.free_symbols - set(symbols.values()):
        raise ExpressionError(f"expression may only depend on {', '.join(symbols)}")
    return expr


def _sympy_polynomial(expr, symbols):
    """(powers (T, d), coefs (T,)) of a sympy polynomial in ``symbols``, else None."""
    import sympy

    if not expr.is_polynomial(*symbols):
        return None
    terms = sympy.Poly(expr, *symbols).terms()
    return _terms_from_dict({tuple(int(p) for p in powers): float(c) for powers, c in terms},
                            len(symbols))


class ExpressionPotential(Potential):
    """A potential from a whitelisted expression in ``x``, differentiated exactly by sympy."""

    def __init__(self, text: str):
        import sympy

        x = sympy.Symbol("x", real=True)
        expr = _parse_expression(text, {"x": x})
        self._symbol = x
        self.text = text.strip()
        self.name = self.text
        self.expression = expr
        self.derivative = sympy.diff(expr, x)
        # lambdify prints the sympy tree (built from whitelisted nodes only) to NumPy code.
        self._value = sympy.lambdify(x, expr, modules="numpy")
        self._grad = sympy.lambdify(x, self.derivative, modules="numpy")
        self.grad_polynomial = None
        if self.derivative.is_polynomial(x):
            poly = sympy.Poly(self.derivative, x)
            coeffs = [float(c) for c in reversed(poly.all_coeffs())]
            self.grad_polynomial = tuple(coeffs)
        with np.errstate(all="ignore"):  # finiteness is checked where V is used
            probe = self.value(np.linspace(-1.0, 1.0, 5))
        if probe.shape != (5,):
            raise ExpressionError(f"expression {text!r} does not give one value per x")

    def value(self, x):
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(np.asarray(self._value(x), dtype=float), x.shape).copy()

    def grad(self, x):
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(np.asarray(self._grad(x), dtype=float), x.shape).copy()

    def polynomial(self):
        return _sympy_polynomial(self.expression, (self._symbol,))


def from_expression(text: str, dimension: int = 1, interaction: bool = False) -> Potential:
    """Parse a whitelisted expression; raises :class:`ExpressionError` if unsafe.

    Variables: ``x`` when ``dimension`` is 1; ``x1``..``xd`` for a potential in
    dimension d ≥ 2; ``r`` (the distance |x − y|) for an interaction in d ≥ 2, which is
    then a :class:`RadialInteraction`.
    """
    dimension = _dimension(dimension)
    if dimension == 1:
        return ExpressionPotential(text)
    if interaction:
        return RadialExpression(text)
    return ExpressionPotentialND(text, dimension)


class FunctionPotential(Potential):
    """Wrap vectorised callables; the gradient is derived numerically when not given.

    The derived gradient is the fourth-order central difference
    (−V(x+2h) + 8V(x+h) − 8V(x−h) + V(x−2h))/(12h) with h = 1e-3·max(1, |x|),
    truncation error O(h⁴ V⁽⁵⁾) ≈ 1e-12 for smooth V.
    """

    def __init__(self, value, grad=None, name="python"):
        self._value_fn = value
        self._grad_fn = grad
        self.name = name

    def value(self, x):
        x = np.asarray(x, dtype=float)
        return np.broadcast_to(np.asarray(self._value_fn(x), dtype=float), x.shape).copy()

    def grad(self, x):
        x = np.asarray(x, dtype=float)
        if self._grad_fn is not None:
            return np.broadcast_to(np.asarray(self._grad_fn(x), dtype=float), x.shape).copy()
        h = 1e-3 * np.maximum(1.0, np.abs(x))
        v = self.value
        return (-v(x + 2 * h) + 8 * v(x + h) - 8 * v(x - h) + v(x - 2 * h)) / (12 * h)


def as_potential(obj, name="python", dimension: int = 1, interaction: bool = False) -> Potential:
    """Accept a :class:`Potential`, an object with ``value`` (and optional ``grad``),
    or a plain vectorised callable V(x).

    In ``dimension`` d ≥ 2 a potential object takes points of shape (m, d): value → (m,),
    grad → (m, d) (:class:`FunctionPotentialND`); an interaction object gives the radial
    profile w(r) and w'(r) on arrays of distances r ≥ 0 (:class:`RadialInteraction`).
    A :class:`Potential` is returned as it is (the config checks its dimension).
    """
    dimension = _dimension(dimension)
    if isinstance(obj, Potential):
        return obj
    if hasattr(obj, "value") and callable(obj.value):
        grad = getattr(obj, "grad", None)
        value, grad, name = obj.value, grad if callable(grad) else None, getattr(obj, "name", name)
    elif callable(obj):
        value, grad, name = obj, None, getattr(obj, "__name__", name)
    else:
        raise TypeError(f"{obj!r} has no value(x) and is not callable")
    if dimension == 1:
        return FunctionPotential(value, grad, name=name)
    if interaction:
        return RadialInteraction(value, grad, name=name)
    return FunctionPotentialND(value, grad, dimension, name=name)


def from_python(path: str, dimension: int = 1, interaction: bool = False) -> Potential:
    """Import ``package.module:attr`` and wrap it with :func:`as_potential`.

    A class is instantiated without arguments. Raises ImportError / AttributeError /
    TypeError with a message naming the path. ``dimension`` and ``interaction`` as in
    :func:`as_potential`.
    """
    dimension = _dimension(dimension)
    if not isinstance(path, str) or path.count(":") != 1:
        raise ValueError(f"expected 'package.module:attr' (got {path!r})")
    module_name, attr = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any failure while importing user code is reported as such
        raise ImportError(f"cannot import module {module_name!r}: "
                          f"{type(exc).__name__}: {exc}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, type):
        obj = obj()
    try:
        pot = as_potential(obj, name=path, dimension=dimension, interaction=interaction)
    except TypeError:
        raise TypeError(f"{path!r} is neither a potential object with value(x) nor a callable") from None
    if dimension == 1 or interaction:
        probe = pot.grad(np.linspace(-1.0, 1.0, 5))
        if np.shape(probe) != (5,):
            what = "r" if dimension > 1 else "x"
            raise TypeError(f"{path!r}: grad({what}) does not return one value per {what}")
    elif isinstance(pot, FunctionPotentialND):
        pot.check_shapes(path)
    return pot


# ---------------------------------------------------------------------------------------
# d dimensions: potentials of a point x = (x1, ..., xd), radial interactions of r = |x − y|


def _dimension(d):
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 1 <= d <= MAX_DIMENSION:
        raise ValueError(f"dimension must be an integer from 1 to {MAX_DIMENSION} (got {d!r})")
    return int(d)


def _points(points, dim):
    """``points`` as a float array of shape (m, dim); a (m,) array is read as (m, 1)."""
    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1 and dim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or (dim is not None and arr.shape[1] != dim):
        raise ValueError(f"points must have shape (m, {dim}) (got {arr.shape})")
    return arr


def _on_grid(fn_nd, coords, dim):
    """Evaluate ``fn_nd`` (points (m, d) → (m,)) on broadcasting coordinate arrays."""
    if dim is not None and len(coords) != dim:
        raise ValueError(f"give {dim} coordinate arrays (got {len(coords)})")
    arrays = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in coords))
    shape = arrays[0].shape
    points = np.stack([a.ravel() for a in arrays], axis=1)
    return np.asarray(fn_nd(points), dtype=float).reshape(shape)


def _on_grid_vector(fn_nd, coords, dim):
    """Evaluate ``fn_nd`` (points (m, d) → (m, d)) on broadcasting arrays → d arrays."""
    if dim is not None and len(coords) != dim:
        raise ValueError(f"give {dim} coordinate arrays (got {len(coords)})")
    arrays = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in coords))
    shape = arrays[0].shape
    points = np.stack([a.ravel() for a in arrays], axis=1)
    out = np.asarray(fn_nd(points), dtype=float)
    return tuple(out[:, k].reshape(shape) for k in range(len(coords)))


def _terms_from_dict(terms, dim):
    """(powers int (T, dim), coefs (T,)) from {powers tuple: coef}, zero terms dropped
    (the zero polynomial keeps one term 0·x⁰)."""
    items = sorted((p, float(c)) for p, c in terms.items() if c != 0.0)
    if not items:
        return np.zeros((1, dim), dtype=np.int64), np.zeros(1)
    powers = np.array([p for p, _ in items], dtype=np.int64).reshape(len(items), dim)
    return powers, np.array([c for _, c in items])


def _eval_terms(points, powers, coefs):
    """Σ_t coefs[t] Π_k points[:, k]^powers[t, k] for points (m, d) → (m,)."""
    if len(coefs) == 0:
        return np.zeros(len(points))
    # x**0 is 1 for every x (0**0 included), so absent variables drop out exactly
    monomials = np.prod(points[:, None, :] ** powers[None, :, :], axis=2)
    return monomials @ coefs


class PotentialND(Potential):
    """A potential V(x) of a point x in d ≥ 2 dimensions.

    ``value(points)`` (m, d) → (m,) and ``grad(points)`` (m, d) → (m, d) are the same as
    ``value_nd``/``grad_nd``; subclasses implement the latter.
    """

    dim: int = 2

    def value(self, points):
        return self.value_nd(points)

    def grad(self, points):
        return self.grad_nd(points)

    def value_nd(self, points):
        raise NotImplementedError

    def grad_nd(self, points):
        raise NotImplementedError

    def polynomial(self):
        return None

    def profile(self, r):
        raise TypeError("a potential of d ≥ 2 is not a radial interaction")

    profile_grad = profile


class PolynomialPotentialND(PotentialND):
    """V(x) = Σ_t coefs[t] Π_k x_k^powers[t, k] in d dimensions, with its exact gradient.

    Parameters
    ----------
    powers : array_like of int, shape (T, d)
        Non-negative exponents of each term.
    coefs : array_like, shape (T,)
        Coefficient of each term.
    """

    def __init__(self, powers, coefs, name="polynomial"):
        powers = np.asarray(powers)
        coefs = np.asarray(coefs, dtype=float)
        if powers.ndim != 2 or powers.shape[0] != coefs.shape[0] or coefs.ndim != 1:
            raise ValueError("powers must have shape (T, d) and coefs shape (T,)")
        if not np.issubdtype(powers.dtype, np.integer) or np.any(powers < 0):
            raise ValueError("powers must be non-negative integers")
        if not np.all(np.isfinite(coefs)):
            raise ValueError("coefs must be finite")
        self.dim = _dimension(powers.shape[1])
        terms = {}
        for p, c in zip(map(tuple, powers.tolist()), coefs):
            terms[p] = terms.get(p, 0.0) + float(c)
        self.powers, self.coefs = _terms_from_dict(terms, self.dim)
        self.name = name
        # ∂_k V: the terms with x_k, each lowered by one power of x_k
        self._grad_terms = []
        for k in range(self.dim):
            has = self.powers[:, k] > 0
            lowered = self.powers[has].copy()
            lowered[:, k] -= 1
            self._grad_terms.append((lowered, self.coefs[has] * self.powers[has, k]))

    def value_nd(self, points):
        return _eval_terms(_points(points, self.dim), self.powers, self.coefs)

    def grad_nd(self, points):
        pts = _points(points, self.dim)
        return np.stack([_eval_terms(pts, pw, c) for pw, c in self._grad_terms], axis=1)

    def polynomial(self):
        return self.powers.copy(), self.coefs.copy()


def _builtin_nd(kind, dim, **params):
    """The built-in potentials of :func:`builtin` in d ≥ 2 (|x|² for x²)."""
    def unit(k, power):
        p = [0] * dim
        p[k] = power
        return tuple(p)

    def r4(c):  # c·|x|⁴ = c·(Σ x_k⁴ + 2 Σ_{j<k} x_j² x_k²)
        terms = {unit(k, 4): c for k in range(dim)}
        for j in range(dim):
            for k in range(j + 1, dim):
                p = [0] * dim
                p[j] = p[k] = 2
                terms[tuple(p)] = 2.0 * c
        return terms

    terms = {}
    if kind == "harmonic":
        omega = params["omega"]
        omegas = omega if isinstance(omega, tuple) else (omega,) * dim
        terms = {unit(k, 2): 0.5 * w**2 for k, w in enumerate(omegas)}
        label = ", ".join(f"{w:g}" for w in omegas) if isinstance(omega, tuple) else f"{omega:g}"
        name = f"harmonic(omega={'[' + label + ']' if isinstance(omega, tuple) else label})"
    elif kind in ("double_well", "tilted_double_well"):
        b, w = params["barrier"], params["width"]
        c = b / w**4
        terms = r4(c)
        terms.update({unit(k, 2): -2.0 * c * w**2 for k in range(dim)})
        terms[(0,) * dim] = c * w**4
        name = f"{kind}(barrier={b:g}, width={w:g}"
        if kind == "tilted_double_well":
            terms[unit(0, 1)] = params["tilt"]
            name += f", tilt={params['tilt']:g}"
        name += ")"
    elif kind == "quartic":
        terms = r4(0.25 * params["coefficient"])
        name = f"quartic(coefficient={params['coefficient']:g})"
    else:  # pragma: no cover - BUILTIN_POTENTIALS and this list name the same kinds
        raise KeyError(f"unknown kind {kind!r}")
    powers, coefs = _terms_from_dict(terms, dim)
    return PolynomialPotentialND(powers, coefs, name=f"{name} in d = {dim}")


class ExpressionPotentialND(PotentialND):
    """A potential from a whitelisted expression in x1..xd (d ≥ 2), differentiated exactly."""

    def __init__(self, text: str, dim: int):
        import sympy

        self.dim = _dimension(dim)
        names = tuple(f"x{k + 1}" for k in range(self.dim))
        self._symbols = tuple(sympy.Symbol(n, real=True) for n in names)
        expr = _parse_expression(text, dict(zip(names, self._symbols)))
        self.text = self.name = text.strip()
        self.expression = expr
        self.derivatives = tuple(sympy.diff(expr, s) for s in self._symbols)
        # lambdify prints the sympy tree (built from whitelisted nodes only) to NumPy code
        self._value = sympy.lambdify(self._symbols, expr, modules="numpy")
        self._grads = tuple(sympy.lambdify(self._symbols, d, modules="numpy")
                            for d in self.derivatives)
        with np.errstate(all="ignore"):  # finiteness is checked where V is used
            probe = self.value_nd(np.zeros((5, self.dim)) + np.linspace(-1, 1, 5)[:, None])
        if probe.shape != (5,):
            raise ExpressionError(f"expression {text!r} does not give one value per point")

    def _eval(self, fn, coords, shape):
        return np.broadcast_to(np.asarray(fn(*coords), dtype=float), shape).copy()

    def value_nd(self, points):
        pts = _points(points, self.dim)
        return self._eval(self._value, pts.T, (len(pts),))

    def grad_nd(self, points):
        pts = _points(points, self.dim)
        return np.stack([self._eval(g, pts.T, (len(pts),)) for g in self._grads], axis=1)

    def grid_value(self, *coords):
        if len(coords) != self.dim:
            raise ValueError(f"give {self.dim} coordinate arrays (got {len(coords)})")
        arrays = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in coords))
        return self._eval(self._value, arrays, arrays[0].shape)

    def grid_grad(self, *coords):
        if len(coords) != self.dim:
            raise ValueError(f"give {self.dim} coordinate arrays (got {len(coords)})")
        arrays = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in coords))
        return tuple(self._eval(g, arrays, arrays[0].shape) for g in self._grads)

    def polynomial(self):
        return _sympy_polynomial(self.expression, self._symbols)


class FunctionPotentialND(PotentialND):
    """A user's V in d ≥ 2: ``value(points)`` (m, d) → (m,), ``grad(points)`` → (m, d).

    Without ``grad``, ∂_k V is the fourth-order central difference along axis k with
    h = 1e-3·max(1, |x_k|) (truncation error O(h⁴ ∂_k⁵V) ≈ 1e-12 for smooth V).
    """

    def __init__(self, value, grad=None, dim=2, name="python"):
        self._value_fn = value
        self._grad_fn = grad
        self.dim = _dimension(dim)
        self.name = name

    def value_nd(self, points):
        pts = _points(points, self.dim)
        return np.broadcast_to(np.asarray(self._value_fn(pts), dtype=float), (len(pts),)).copy()

    def grad_nd(self, points):
        pts = _points(points, self.dim)
        if self._grad_fn is not None:
            return np.broadcast_to(np.asarray(self._grad_fn(pts), dtype=float), pts.shape).copy()
        out = np.empty_like(pts)
        for k in range(self.dim):
            h = 1e-3 * np.maximum(1.0, np.abs(pts[:, k]))
            shifted = []
            for step in (2, 1, -1, -2):
                p = pts.copy()
                p[:, k] += step * h
                shifted.append(self.value_nd(p))
            out[:, k] = (-shifted[0] + 8 * shifted[1] - 8 * shifted[2] + shifted[3]) / (12 * h)
        return out

    def check_shapes(self, what):
        """Raise TypeError unless value/grad give (m,) and (m, d) for points (m, d)."""
        probe = np.zeros((5, self.dim)) + np.linspace(-1.0, 1.0, 5)[:, None]
        value = np.asarray(self._value_fn(probe))
        if value.shape != (5,):
            raise TypeError(f"{what}: value(points) must return shape (m,) for points of "
                            f"shape (m, {self.dim}) (got {value.shape})")
        if self._grad_fn is not None:
            grad = np.asarray(self._grad_fn(probe))
            if grad.shape != (5, self.dim):
                raise TypeError(f"{what}: grad(points) must return shape (m, {self.dim}) for "
                                f"points of shape (m, {self.dim}) (got {grad.shape})")


class RadialInteraction(Potential):
    """A radial interaction kernel W(x − y) = w(|x − y|) for d ≥ 2.

    ``value(r)``/``grad(r)`` are the profile w(r) and w'(r) on distances r ≥ 0 (as a user's
    object gives them); the force on x from y is −w'(|x − y|)(x − y)/|x − y|, zero at
    x = y. ``grid_value(z1, ..., zd)`` = w(|z|) and ``grid_grad(z1, ..., zd)`` =
    (w'(|z|) z_k/|z|)_k (0 at z = 0) broadcast over the coordinate arrays of the lag z,
    as the 2-D convolution takes its kernel. Without ``grad``, w' is the fourth-order
    central difference of the even extension w(|r|) (h = 1e-3·max(1, r)).

    Attributes
    ----------
    kind : str
        ``"quadratic"``, ``"gaussian"`` (built-ins, ``params`` holds their parameters),
        ``"expr"`` or ``"python"``.
    params : dict
    """

    dim = None
    radial = True

    def __init__(self, value, grad=None, name="python", kind="python", params=None):
        self._value_fn = value
        self._grad_fn = grad
        self.name = name
        self.kind = kind
        self.params = dict(params or {})

    @classmethod
    def builtin(cls, kind, **params):
        """``quadratic`` (kappa): κr²/2; ``gaussian`` (strength, width): s·exp(−r²/(2w²))."""
        if kind == "quadratic":
            kappa = params["kappa"]
            return cls(lambda r: 0.5 * kappa * r**2, lambda r: kappa * r,
                       name=f"quadratic(kappa={kappa:g}) of r = |x − y|", kind=kind,
                       params={"kappa": kappa})
        if kind == "gaussian":
            s, w = params["strength"], params["width"]
            return cls(lambda r: s * np.exp(-0.5 * (r / w) ** 2),
                       lambda r: -s * r / w**2 * np.exp(-0.5 * (r / w) ** 2),
                       name=f"gaussian(strength={s:g}, width={w:g}) of r = |x − y|",
                       kind=kind, params={"strength": s, "width": w})
        raise KeyError(f"unknown kind {kind!r}")  # pragma: no cover

    def profile(self, r):
        """w(r) on distances r ≥ 0 (any shape)."""
        r = np.asarray(r, dtype=float)
        return np.broadcast_to(np.asarray(self._value_fn(r), dtype=float), r.shape).copy()

    def profile_grad(self, r):
        """w'(r) on distances r ≥ 0 (any shape), set to 0 at r = 0 where the force
        −w'(r)(x − y)/r vanishes by symmetry."""
        r = np.asarray(r, dtype=float)
        if self._grad_fn is not None:
            out = np.broadcast_to(np.asarray(self._grad_fn(r), dtype=float), r.shape).copy()
        else:
            h = 1e-3 * np.maximum(1.0, np.abs(r))
            w = lambda s: self.profile(np.abs(s))  # noqa: E731 - the even extension
            out = (-w(r + 2 * h) + 8 * w(r + h) - 8 * w(r - h) + w(r - 2 * h)) / (12 * h)
        return np.where(r == 0.0, 0.0, out)

    def value(self, r):
        return self.profile(r)

    def grad(self, r):
        return self.profile_grad(r)

    def value_nd(self, lags):
        """W at lags z = x − y of shape (m, d) → (m,)."""
        z = _points(lags, None)
        return self.profile(np.sqrt(np.sum(z * z, axis=1)))

    def grad_nd(self, lags):
        """∇W(z) = w'(|z|) z/|z| at lags of shape (m, d) → (m, d) (0 at z = 0)."""
        z = _points(lags, None)
        r = np.sqrt(np.sum(z * z, axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.where(r > 0, self.profile_grad(r) / np.where(r > 0, r, 1.0), 0.0)
        return z * factor[:, None]

    def grid_value(self, *coords):
        arrays = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in coords))
        return self.profile(np.sqrt(sum(a * a for a in arrays)))

    def grid_grad(self, *coords):
        arrays = np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in coords))
        r = np.sqrt(sum(a * a for a in arrays))
        safe = np.where(r > 0, r, 1.0)
        factor = np.where(r > 0, self.profile_grad(r) / safe, 0.0)
        return tuple(a * factor for a in arrays)

    def polynomial(self):
        return None


class RadialExpression(RadialInteraction):
    """A radial interaction profile from a whitelisted expression in ``r`` (d ≥ 2)."""

    def __init__(self, text: str):
        import sympy

        r = sympy.Symbol("r", nonnegative=True)
        expr = _parse_expression(text, {"r": r})
        self.text = text.strip()
        self.expression = expr
        self.derivative = sympy.diff(expr, r)
        super().__init__(sympy.lambdify(r, expr, modules="numpy"),
                         sympy.lambdify(r, self.derivative, modules="numpy"),
                         name=f"{self.text} of r = |x − y|", kind="expr")
        with np.errstate(all="ignore"):
            probe = self.profile(np.linspace(0.0, 1.0, 5))
        if probe.shape != (5,):
            raise ExpressionError(f"expression {text!r} does not give one value per r")
