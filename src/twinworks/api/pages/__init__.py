"""Static pages served by the API itself (the login page)."""
