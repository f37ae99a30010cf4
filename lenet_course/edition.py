"""Which edition of the kit this is: the instructors' kit, or a student release.

``lenet-course release student`` rewrites this file in the release it writes; the CLI
offers a student release only the commands it has the code for (``check`` and ``data``).
"""

EDITION = "kit"
STUDENT_COMMANDS = ("check", "data")
