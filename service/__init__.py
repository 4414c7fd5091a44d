"""The HTTP service (``rules serve``): a second shell over ``rules_engine``, beside the command line."""
