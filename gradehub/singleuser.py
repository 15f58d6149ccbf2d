"""``python3 -m gradehub.singleuser``: the command of every hub server in a container or pod
(``[spawner] cmd``, Zero-to-JupyterHub's ``singleuser.cmd``), kept as a stable entry point so
that a notebook image and the hub need not be rebuilt together. The code is
:mod:`gradehub.hub.singleuser`."""

import sys

from gradehub.hub.singleuser import main

if __name__ == "__main__":
    sys.exit(main())
