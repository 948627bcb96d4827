"""Sample datasets written by the project."""
