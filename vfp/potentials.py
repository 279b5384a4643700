"""Potentials V(x) and interaction kernels W(x): built-ins, safe expressions, Python objects.

Every potential is an object with vectorised ``value(x)`` and ``grad(x)``. Built-in and
expression potentials also know whether their gradient is a polynomial
(``grad_polynomial``: coefficients c_k of V'(x) = Σ c_k x^k), which lets the particle
simulator evaluate the force exactly inside compiled code instead of from a table.

Expressions are parsed with :mod:`ast` against a whitelist (numbers, ``x``, + − * / **,
unary minus, and the functions exp, log, sin, cos, tanh, sqrt, abs), turned into a sympy
expression node by node, and differentiated exactly. Nothing from the string is ever
evaluated by Python.
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
]


class Potential:
    """A scalar function of x with its derivative, both vectorised over arrays.

    Subclasses implement :meth:`value` and :meth:`grad`. ``grad_polynomial`` is a tuple of
    coefficients (c_0, c_1, ...) when V' is the polynomial Σ c_k x^k, else ``None``.
    """

    name: str = "potential"
    grad_polynomial: tuple[float, ...] | None = None

    def value(self, x):
        raise NotImplementedError

    def grad(self, x):
        raise NotImplementedError

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


def builtin(kind: str, interaction: bool = False, **params) -> Potential:
    """Build a named potential (or interaction kernel when ``interaction``).

    Potentials: ``harmonic`` (omega): ω²x²/2; ``double_well`` (barrier, width):
    barrier·(x² − width²)²/width⁴; ``tilted_double_well`` (barrier, width, tilt): the
    double well plus tilt·x; ``quartic`` (coefficient): coefficient·x⁴/4.
    Interactions: ``quadratic`` (kappa): κx²/2; ``gaussian`` (strength, width):
    strength·exp(−x²/(2 width²)).

    Raises
    ------
    KeyError
        Unknown kind or parameter (the message names it).
    ValueError
        A parameter that is not a finite number, or a non-positive width/barrier/coefficient.
    """
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
        if isinstance(val, bool) or not isinstance(val, (int, float)) or not math.isfinite(val):
            raise ValueError(f"parameter {key!r} must be a finite number (got {val!r})")
        if key in _POSITIVE_PARAMETERS and val <= 0:
            raise ValueError(f"parameter {key!r} must be > 0 (got {val!r})")
        values[key] = float(val)
    return factory(**values)


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
        return 1.0 if node.id == "x" else 0.0
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


def _to_sympy(node, symbol):
    """Translate a whitelisted AST node into a sympy expression; reject anything else."""
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
        if node.id == "x":
            return symbol
        if node.id == "pi":
            return sympy.pi
        raise ExpressionError(f"unknown name {node.id!r} (only x and pi)")
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


class ExpressionPotential(Potential):
    """A potential from a whitelisted expression in ``x``, differentiated exactly by sympy."""

    def __init__(self, text: str):
        import sympy

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
        x = sympy.Symbol("x", real=True)
        expr = _to_sympy(tree, x)
        if expr.free_symbols - {x}:
            raise ExpressionError("expression may only depend on x")
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


def from_expression(text: str) -> ExpressionPotential:
    """Parse a whitelisted expression in x; raises :class:`ExpressionError` if unsafe."""
    return ExpressionPotential(text)


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


def as_potential(obj, name="python") -> Potential:
    """Accept a :class:`Potential`, an object with ``value`` (and optional ``grad``),
    or a plain vectorised callable V(x)."""
    if isinstance(obj, Potential):
        return obj
    if hasattr(obj, "value") and callable(obj.value):
        grad = getattr(obj, "grad", None)
        return FunctionPotential(obj.value, grad if callable(grad) else None,
                                 name=getattr(obj, "name", name))
    if callable(obj):
        return FunctionPotential(obj, None, name=getattr(obj, "__name__", name))
    raise TypeError(f"{obj!r} has no value(x) and is not callable")


def from_python(path: str) -> Potential:
    """Import ``package.module:attr`` and wrap it with :func:`as_potential`.

    A class is instantiated without arguments. Raises ImportError / AttributeError /
    TypeError with a message naming the path.
    """
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
        pot = as_potential(obj, name=path)
    except TypeError:
        raise TypeError(f"{path!r} is neither a potential object with value(x) nor a callable") from None
    probe = pot.grad(np.linspace(-1.0, 1.0, 5))
    if np.shape(probe) != (5,):
        raise TypeError(f"{path!r}: grad(x) does not return one value per x")
    return pot
