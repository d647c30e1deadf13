"""``python -m edge`` runs the ildscreen command line."""
from edge.cli import main

main()
