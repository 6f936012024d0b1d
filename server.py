"""Start the dedup gRPC server: the same as `dedup serve` (see `python server.py --help`)."""
import sys

from dedup.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
