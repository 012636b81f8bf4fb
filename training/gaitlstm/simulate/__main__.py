import os
import sys

from ..io.errors import DataError
from .cli import main

try:
    sys.exit(main())
except (DataError, FileNotFoundError, ValueError) as e:
    # Same contract as `python -m gaitlstm`: bad input is the user's to fix; GAITLSTM_DEBUG=1 shows the traceback.
    if os.environ.get("GAITLSTM_DEBUG"):
        raise
    print(f"gaitlstm.simulate: {e}", file=sys.stderr)
    sys.exit(2)
