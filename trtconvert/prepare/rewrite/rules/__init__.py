"""Rewrite rules, one module each; trtconvert.prepare.rewrite.registry lists them."""
