"""The only place SQL lives: schema, connections, one module per entity."""
