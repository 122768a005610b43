"""The package version, in a module of its own so that the protocol core can name it in the
`User-Agent` without importing the package."""

__version__ = "0.1.0.dev0"
