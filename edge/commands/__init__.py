"""CLI command groups, one module per area, registered in edge.cli."""
