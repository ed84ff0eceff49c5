"""The HTTP layer: the route table, middleware, and the rendering of the core's decisions."""
