import sys

from vtui.cli.main import main

sys.exit(main())
