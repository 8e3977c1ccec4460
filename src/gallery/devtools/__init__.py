"""Developer tools that use the site from outside, as the CLI does: clients of the services."""
