"""Request and response models: the API's contract, strict about types."""
