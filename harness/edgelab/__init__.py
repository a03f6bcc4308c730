"""edgelab: hands-on Kubernetes incident labs on real kind clusters."""

__version__ = "0.1.0"
