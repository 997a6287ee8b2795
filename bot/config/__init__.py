"""The admin's YAML file: the core model, the loader (file:line:col errors), the holder (reload, last good)."""
