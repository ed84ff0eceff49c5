import sys

from wan26.mockserver.cli import main

sys.exit(main())
