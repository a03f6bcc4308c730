"""The drill's clock, a process of its own: python -m edgelab.drill run FOLDER (started by `drills.start`)."""

import sys
from pathlib import Path

from edgelab.drill.drills import run

if len(sys.argv) == 3 and sys.argv[1] == "run":
    run(Path(sys.argv[2]))
else:
    sys.exit("usage: python -m edgelab.drill run FOLDER")
