"""One use case per endpoint, wiring protocol, domain rules and storage together."""
