"""Run nx-27017 in the foreground with its per-command INFO logging turned down.

nx-27017 logs every command at INFO through `logging.basicConfig`, which costs a large share of
its CPU under load. Configuring the root logger first makes its own `basicConfig` a no-op.
"""

import logging
import sys

from nx_27017.nx_27017 import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.argv[0] = "nx-27017"
    main()
