"""A FastAPI app serving the benchmarked routes the way FastAPI's documentation teaches."""
