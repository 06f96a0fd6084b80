"""Rewrite rules, one module each; trtconvert.rewrite.registry lists them."""
