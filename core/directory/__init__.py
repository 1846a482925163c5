"""The organisation directory: departments, units, people, and the routing questions on them."""
