"""HTTP routes, one blueprint per resource; each view parses, calls and responds."""
