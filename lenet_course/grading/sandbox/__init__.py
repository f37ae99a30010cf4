"""Code that runs in the worker's process, beside the submission's code: the worker's main,
its probes, the protocol it speaks and its Landlock confinement. It decides no grade; what it
sends back is plain data the judge checks. It imports only itself and the kit's student
runtime (:data:`lenet_course.grading.jail.paths.RUNTIME_FILES`), the only kit files a jailed
worker can read."""
