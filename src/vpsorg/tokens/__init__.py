"""API tokens: a customer lists, creates and revokes the tokens of their account."""
