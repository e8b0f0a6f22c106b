"""``python -m workbench.cli``: the same command line as the ``workbench`` script.

Run as::

    python -m workbench.cli run configs/splice.yaml
"""

from . import main

main()
