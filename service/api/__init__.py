"""The HTTP layer: the Litestar app factory, problem details, one module per resource."""
