import sys

from wan26.client.cli import main

sys.exit(main())
