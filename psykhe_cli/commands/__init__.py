"""The commands of the ``psykhe`` CLI, one module each; ``cli.py`` registers them."""
