"""Code that runs inside the sandbox, next to the customer's (not imported by the worker)."""
