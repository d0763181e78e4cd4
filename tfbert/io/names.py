"""Names that become a directory (runs/<name>, saved_models/<name>): never a path."""

import re

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SAFE_NAME_RULE = ("must be letters, digits, '.', '_' or '-', start with a letter or digit, "
                  "and contain no path separators or '..'")


def is_safe_name(name):
    return bool(_SAFE_NAME.match(name or "")) and ".." not in name
