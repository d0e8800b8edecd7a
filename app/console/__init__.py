"""The agent console: sign-in, sessions with CSRF tokens, and the queue API under /console/."""
