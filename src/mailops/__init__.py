"""mailops: own your mail host — deploy, DNS, DKIM keys, bounces."""

__version__ = "0.1.0"
