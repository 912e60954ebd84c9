"""Generated gRPC code of the public contract (`make proto`; see protos/)."""
