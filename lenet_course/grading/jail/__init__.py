"""The jail: the judge's handle on the sandbox. It runs in the judge's process, never in a worker's.

Four levels, chosen once per grading process and written into every report. The strongest
the machine allows is chosen: ``bwrap`` if bubblewrap starts, else ``landlock`` if the kernel
offers Landlock, else ``reduced``. ``LENET_JAIL=bwrap|landlock|reduced``
forces one; a forced level the machine cannot give is an error, never a quiet fallback.

``bwrap`` (root with bubblewrap)
    New PID, network, IPC and UTS namespaces; the worker dies with the grader, and every
    process it started dies with it. The filesystem is read-only and holds only the
    system, Python and its packages, the student runtime of the kit, the submission's own
    files and, for training, MNIST. ``solutions/``, ``tests/``, the kit's reference
    modules, the class folder, the results and other workers do not exist in there. The
    one writable place is a private 0700 tmpfs, ``/scratch``. The worker then drops to an
    unprivileged uid of its own, with no capabilities and ``no_new_privs``.
``landlock`` (root without a usable bubblewrap, e.g. Docker's default seccomp profile, on a
    kernel with Landlock: Linux 5.13 or later)
    An unprivileged uid of its own, a new session and rlimits, as at ``reduced``; then, before
    it imports torch or any student code, the worker confines itself
    (:mod:`~lenet_course.grading.sandbox.landlock`): it can read only the Python prefixes, the kit's
    :data:`RUNTIME_FILES`, its own copy of the submission, MNIST where the test trains and
    the system paths of :func:`landlock_rules`; it can write only its scratch folder; it
    cannot open a socket other than ``AF_UNIX``, nor connect or bind TCP. Processes stay
    visible by number (no PID namespace), and each one it starts is killed by its uid.
``reduced`` (root without bubblewrap and without Landlock)
    An unprivileged uid of its own, a new session and rlimits; the filesystem is not
    hidden and the network is not cut. The report says so.
``none`` (forced with ``LENET_JAIL=none``, or where no other level starts)
    A plain child process with rlimits. Integrity is the student's own business there.

A grader that is not root gets ``bwrap`` in a user namespace where bubblewrap may make one,
else ``landlock`` under its own uid, else ``none``; never ``reduced``, which needs root to give
a worker a uid of its own (:data:`.levels.OWN_UID_NOTES`).
Its four concerns, one module each: :mod:`.levels` (which level this machine gives),
:mod:`.bwrap` (the bubblewrap command line), :mod:`.paths` (what a worker may read and write)
and :mod:`.client` (the :class:`~.client.Worker` handle, the judge's side of the protocol);
:mod:`.limits` holds the time and memory limits.
"""
