import sys

from stackops.cli import main

sys.exit(main())
