import os
import sys

from .cli import main
from .io.errors import DataError

try:
    sys.exit(main())
except (DataError, FileNotFoundError, ValueError) as e:
    # Bad input is the user's to fix: the message names the file, line and column.
    # GAITLSTM_DEBUG=1 shows the traceback too.
    if os.environ.get("GAITLSTM_DEBUG"):
        raise
    print(f"gaitlstm: {e}", file=sys.stderr)
    sys.exit(2)
