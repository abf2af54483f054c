"""HTTP: create_app, dependencies, error rendering, schemas and thin routes."""
