"""Start the dedup gRPC server: the same as `dedup serve` (see `python server.py --help`)."""
import sys

from dedup.cli import console

if __name__ == "__main__":
    sys.exit(console(["serve", *sys.argv[1:]]))
