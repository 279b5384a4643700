"""vfp: mean-field Langevin particles against their Vlasov-Fokker-Planck limit."""

__version__ = "0.1.0"
