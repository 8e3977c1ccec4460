"""HTTP only: parse the request, call a service, render or serialise."""
