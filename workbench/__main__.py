"""``python -m workbench``: the same command line as the ``workbench`` script (torchrun starts workers this way).

Run as::

    python -m workbench run configs/splice.yaml
    torchrun --nproc-per-node 2 -m workbench run configs/splice.yaml
"""

from .cli import main

main()
