"""lenet-course: train LeNet on MNIST, as a graded, test-driven teaching kit."""

from lenet_course.errors import UserError

__all__ = ["UserError"]
__version__ = "0.1.0"
