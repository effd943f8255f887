"""ntpverify: exact and high-precision checks of the implicit bias of next-token prediction."""

__version__ = "0.1.0"
