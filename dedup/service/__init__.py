"""The gRPC adapter: conversions, error mapping, the servicer and the server's lifecycle."""
