"""The web tier: the JSON API and the Dash dashboard on one Flask server."""
