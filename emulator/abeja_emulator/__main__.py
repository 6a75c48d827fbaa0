"""`python -m abeja_emulator` runs the same CLI as `abeja-emulator`."""

import sys

from .cli import main

sys.exit(main())
