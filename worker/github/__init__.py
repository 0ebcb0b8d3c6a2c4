"""GitHub: the REST client (auth, retries, rate limits), the GitHub source and redelivery."""
