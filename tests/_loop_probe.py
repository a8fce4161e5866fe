"""Helper script for tests/test_examples.py (not a test module).

Reports which event loop class ``asyncio.run`` uses and how the script was
started (``__name__``, ``sys.argv``, ``__file__``, ``sys.path[0]``), one
``key value`` pair per line.
"""

import asyncio
import os
import sys


async def main() -> None:
    loop = asyncio.get_running_loop()
    print("loop_module", type(loop).__module__)
    print("loop_class", type(loop).__name__)


print("name", __name__)
print("argv", sys.argv)
print("file", os.path.realpath(__file__))
print("path0", os.path.realpath(sys.path[0]))
asyncio.run(main())
