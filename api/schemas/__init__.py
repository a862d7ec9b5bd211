"""The HTTP API's request and response models and their OpenAPI examples, by routes module."""
