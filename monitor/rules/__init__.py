"""Warning policies: the model (``policy``), rule evaluation (``evaluate``), file loading (``loader``).

Importing this package loads only the pure parts; ``monitor.rules.loader``
reads files.
"""

from monitor.rules.policy import LEVEL_NAMES, Level, Policy, parse_policy

__all__ = ["LEVEL_NAMES", "Level", "Policy", "parse_policy"]
