"""``python -m bench``: the benchmark that ``make bench`` runs."""

import sys

from bench.run import main

sys.exit(main())
