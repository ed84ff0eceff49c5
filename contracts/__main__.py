import sys

from wan26.contracts.cli import main

sys.exit(main())
