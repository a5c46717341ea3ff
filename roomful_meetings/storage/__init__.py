"""Everything that knows Redis lives in this package."""
