"""OA integration: registered external applications send cards and hear about acts on them."""
