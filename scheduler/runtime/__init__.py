"""Running the product: the embedded real services that `hybrid-scheduler dev` and the tests use."""
