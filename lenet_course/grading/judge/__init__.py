"""Code that makes verdicts, in a process where no submitted code has ever run: the graded
tests' pytest plugin, the reference spec, the test catalog, the grading run and its reports.
It reaches submitted code only through the jail (:mod:`lenet_course.grading.jail`) and never
imports a submission (:mod:`lenet_course.targets` is off limits)."""
