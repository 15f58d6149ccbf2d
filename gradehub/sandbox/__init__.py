"""Sandboxes that run student kernels under limits; see base.py for the interface."""
