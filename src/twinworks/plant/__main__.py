"""``python -m twinworks.plant``: serve the simulated machining cell over OPC UA."""

import sys

from twinworks.plant.run import main

sys.exit(main())
