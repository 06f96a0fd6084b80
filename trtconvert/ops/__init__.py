"""Custom operators of prepared graphs: reference implementations and their CPU execution."""
