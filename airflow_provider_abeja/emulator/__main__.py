"""`python -m airflow_provider_abeja.emulator` runs the same CLI as `abeja-emulator`."""

import sys

from .cli import main

sys.exit(main())
