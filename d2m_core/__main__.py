import sys

from d2m_core.cli.main import main

sys.exit(main())
