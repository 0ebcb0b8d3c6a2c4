"""Extract text and tables from a PDF (an asset of the pdf-extract skill)."""

import sys


def main(path: str) -> None:
    print(f"would extract {path}")


if __name__ == "__main__":
    main(sys.argv[1])
