"""Example files that document an extension point run as documented."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_custom_scheme_example_solves_ou_to_second_order_accuracy():
    """examples/custom_scheme.py (README "Adding a grid scheme"): a scheme passed as a class
    runs through the shared time loop; central fluxes on h = 0.05 are second order, so the
    L1 error against the exact OU law is of order h² ≈ 2.5e-3 times a constant < 1."""
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "custom_scheme.py")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    error = float(out.stdout.rsplit(" ", 1)[-1])
    assert "central: finished" in out.stdout
    assert 0.0 < error < 2.5e-3, out.stdout
