"""The personalization API and the storefront it serves (``personastream serve``)."""
