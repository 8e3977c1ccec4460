"""What the site does, with no HTTP in it: plain arguments in, plain objects out."""
