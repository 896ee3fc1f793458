"""``python -m onebit`` runs the command line."""

from onebit.cli import main

main()
