import sys

from mimio_core.cli import main

sys.exit(main())
