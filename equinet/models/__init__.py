"""The forecasters: the transformer, its heads, the return distribution and the linear baseline."""
