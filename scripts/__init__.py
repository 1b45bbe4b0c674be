"""Developer scripts (not part of the product): screenshots of the console and the scenes they drive."""
