"""Generated gRPC code for dedup.v1 (scripts/generate_protos.py); do not edit."""
