"""tensormesh-reconciler: declarative plan/apply/drift for Tensormesh model deployments."""

__version__ = "0.1.0"
