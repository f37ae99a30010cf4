"""``python -m lenet_course.cli``: the same entry point as ``lenet-course``."""

import sys

from lenet_course.cli import main

sys.exit(main())
