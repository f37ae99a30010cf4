"""Grading a class on top of the judge: the roster, the gradebook, the cluster executors, the
class report and the similarity screen."""
