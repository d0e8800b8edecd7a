"""HTTP routes. Each module is a router; `app.main` mounts them."""
