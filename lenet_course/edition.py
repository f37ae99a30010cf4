"""Which edition of the kit this is: the instructors' kit, a student release, or the
Gradescope bundle.

``lenet-course release student`` and ``lenet-course export gradescope`` rewrite this file in
what they write; the CLI of an edition other than the kit offers only the commands it has
the code for (:data:`COMMANDS`), so no command it offers imports a module it left out.
"""

EDITION = "kit"
# The commands each edition that ships part of the kit offers; the kit offers them all.
COMMANDS = {
    "student": ("check", "data"),  # lenet_course.release.STUDENT_MODULES
    "bundle": ("grade", "check", "data"),  # the modules of lenet_course.export.build_bundle
}
STUDENT_COMMANDS = COMMANDS["student"]
