"""Terminal output with rich: one module per view. Code here formats records; it never measures."""
